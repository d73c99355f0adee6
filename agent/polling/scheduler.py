"""The poll scheduler: reads provider accounts through their Provider, one job per account at a time.

Two kinds of job:

* **polls** of accounts with live orders (pending, or expired within the late-payment grace): fresh
  accounts every ``poll_interval_seconds``, accounts with only expired orders every
  ``poll_idle_interval_seconds``, both counted from the start of the previous read (so the read time does
  not add to a payment's wait) and never closer than a provider's ``min_poll_interval`` attribute
  (seconds) when it has one; a read that outlasts the interval is followed by the next one at once, never
  overlapped; failed polls back off up to ``poll_backoff_max_seconds``.
* **probes** of degraded accounts without live orders: log in if needed and read the last minutes, first
  ``probe_backoff_first_seconds`` after the failure, then doubling up to ``probe_backoff_max_seconds``,
  until one succeeds and the account is ``ok`` again. An idle healthy account costs nothing.

login_failed and needs_human accounts are left alone until a person acts (new credentials, a one-time
code, 立即重试: ``accounts.probe_requested_at``). Failures are classified once, by
:func:`agent.accounts.failures.classify`, and written through :class:`agent.accounts.AccountBook`.

Every tick, and when jobs end (at most every :data:`VIEW_S`, however many end meanwhile), reads each enabled
account's state from the database in one query, so a change made anywhere (the CLI, the admin console,
another process) counts at the next read: a disabled account is no longer read, and a new revision
(username, password or base URL changed) rebuilds the provider first.

Built for hundreds of accounts: a job is a task only while it runs (one per account at most, never two
reads of one account at once); an account's reads keep their own phase (each counted from its previous
start), so accounts that logged in at different moments stay spread over the interval; a slow or failing
provider only delays its own accounts (the jobs are independent, each bounded by ``poll_timeout_seconds``).
What a read brings is written only when it holds records the previous read did not, and matched then, when
the account's live orders changed, or at least every :data:`REMATCH_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from agent.accounts import AccountBook, classify
from agent.db import Database, now_ms
from agent.matching import expire_overdue, match_account, record_transactions
from agent.ops import metrics
from agent.ops.drain import Drain
from agent.orders import live
from agent.providers.base import (
    HealthState,
    Provider,
    ProviderError,
    ProviderFactory,
    ProviderTransaction,
    SessionExpired,
)
from agent.recurring import RecurringTask
from agent.settings import Settings

log = structlog.get_logger(__name__)

TICK_S = 1.0  # new orders, and changes made by other processes, are noticed within this time
VIEW_S = 0.25  # the accounts' view is read again at most this often (jobs end many times a second at scale)
REMATCH_S = 15.0  # the matcher runs at least this often for a polled account, new records or not
STOPPED = frozenset({HealthState.LOGIN_FAILED, HealthState.NEEDS_HUMAN})  # wait for a person
PROBE_WINDOW = timedelta(minutes=2)  # what a probe reads: enough to prove the back office answers


@dataclass(frozen=True, slots=True)
class AccountNow:
    """An enabled account as the database shows it at this tick."""

    account_id: int
    platform: str
    health: HealthState
    revision: int
    probe_requested_at: int | None
    live: bool  # has live orders
    fresh: bool  # at least one order can still be paid
    oldest_created_at: int | None  # the read window starts here (minus the skew)
    live_orders: tuple[int, int] = (0, 0)  # how many, and the newest's creation: changes when an order comes or goes


@dataclass
class _AccountState:
    provider: Provider | None = None
    revision: int = -1  # of the credentials the provider was built with
    logged_in: bool = False
    task: asyncio.Task[None] | None = None
    requested: bool = False
    failures: int = 0  # consecutive failed jobs
    failed_probes: int = 0  # consecutive failed probes (no live orders)
    last_start: float = -math.inf
    last_end: float = -math.inf
    known: frozenset[str] = frozenset()  # trade nos of the previous read, written and matched
    matched_orders: tuple[int, int] | None = None  # the live orders the matcher last saw
    matched_at: float = -math.inf

    @property
    def min_spacing(self) -> float:
        return float(getattr(self.provider, "min_poll_interval", 0.0) or 0.0)


class PollScheduler:
    """Decides when each account is read, reads it through its Provider, records and matches what it finds."""

    def __init__(
        self, db: Database, accounts: AccountBook, settings: Settings, factory: ProviderFactory | None,
        on_confirmed: Callable[[], None], drain: Drain,
    ) -> None:
        self._db = db
        self._drain = drain
        self._book = accounts
        self._settings = settings
        self._factory = factory
        self._on_confirmed = on_confirmed
        self._accounts: dict[int, _AccountState] = {}
        self._loop = RecurringTask(self._tick, TICK_S, name="poll-scheduler", on_error=self._tick_failed)
        self._next_sweep = 0.0
        self._skew_ms = settings.match_skew_seconds * 1000
        self._view: list[AccountNow] = []
        self._view_at = -math.inf
        self._look_again = False

    def request_poll(self, account_id: int) -> None:
        """Read this account as soon as its spacing allows (the payer pressed "我已支付").

        Coalesces with a running job (one more read follows it); ignored while the account backs off
        after failures, is stopped (login_failed / needs_human) or has no live orders.
        """
        self._state(account_id).requested = True
        self._loop.wake()

    def wake(self) -> None:
        """Look at the accounts now rather than at the next tick (立即重试 was just written)."""
        self._look_again = True
        self._loop.wake()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Schedule polls, probes and expiry sweeps for the duration of the block; cancel every job on exit."""
        self._next_sweep = asyncio.get_running_loop().time()
        self._loop.start()
        try:
            yield
        finally:
            jobs = [s.task for s in self._accounts.values() if s.task is not None]
            for job in jobs:
                job.cancel()
            await asyncio.gather(self._loop.stop(), *jobs, return_exceptions=True)

    def _state(self, account_id: int) -> _AccountState:
        return self._accounts.setdefault(account_id, _AccountState())

    async def _tick(self) -> float:
        """Sweep expired orders when it is time, start the due jobs; returns seconds until the next tick."""
        loop = asyncio.get_running_loop()
        delay = TICK_S
        try:
            # While the storage is failing, nothing found could be recorded: wait for the storage probe.
            if loop.time() >= self._next_sweep and not self._db.storage.failing:
                await expire_overdue(self._db, skew_ms=self._skew_ms)
                self._next_sweep = loop.time() + self._settings.expiry_sweep_seconds
            if self._factory is not None and not self._drain.draining and not self._db.storage.failing:
                delay = min(delay, await self._start_due_jobs(self._factory, loop.time()))
        except Exception as exc:
            self._tick_failed(exc)
        return min(delay, max(0.0, self._next_sweep - loop.time()))

    def _tick_failed(self, exc: Exception) -> None:
        if not self._db.storage.mark_failed(exc):  # a full disk is logged there, once a minute
            log.exception("poll_scheduler_error")  # called inside an except block

    async def _start_due_jobs(self, factory: ProviderFactory, now: float) -> float:
        """Start a job for every account that is due; returns seconds until the next one is."""
        wait = TICK_S
        if self._look_again or now - self._view_at >= VIEW_S:
            self._look_again = False
            self._view, self._view_at = await self._enabled_accounts(), now
        for account in self._view:
            state = self._state(account.account_id)
            if state.task is not None:
                continue
            due = self._due(account, state, now)
            if due is None:
                continue
            if due > now:
                wait = min(wait, due - now)
                continue
            state.requested = False
            state.last_start = now
            state.task = asyncio.create_task(self._job(factory, account, state), name=f"poll-{account.account_id}")
            self._drain.track(state.task)
        return wait

    def _due(self, account: AccountNow, state: _AccountState, now: float) -> float | None:
        """When the account's next job may start, or None when it needs none."""
        spacing = state.last_start + state.min_spacing
        if account.probe_requested_at is not None:  # a person asked: now, whatever the health
            return max(now, spacing)
        if account.health in STOPPED:
            return None
        if account.live:
            interval = self._settings.poll_interval_seconds if account.fresh else self._settings.poll_idle_interval_seconds
            if state.failures:
                backoff = min(interval * 2 ** (state.failures - 1), self._settings.poll_backoff_max_seconds)
                due = state.last_end + backoff
            elif state.requested:
                due = now
            else:
                due = state.last_start + interval
            return max(due, spacing)
        if account.health is HealthState.DEGRADED:
            return max(state.last_end + self._probe_backoff(state), spacing)
        return None

    def _probe_backoff(self, state: _AccountState) -> float:
        settings = self._settings
        return min(settings.probe_backoff_first_seconds * 2 ** state.failed_probes, settings.probe_backoff_max_seconds)

    async def _enabled_accounts(self) -> list[AccountNow]:
        now = now_ms()
        rows = await live.enabled_accounts(self._db, now, now - self._settings.late_payment_grace_seconds * 1000)
        return [
            AccountNow(row[0], row[1], HealthState(row[2]), row[3], row[4], row[6] is not None, bool(row[5]), row[6],
                       (row[7] or 0, row[8] or 0))
            for row in rows
        ]

    async def _job(self, factory: ProviderFactory, account: AccountNow, state: _AccountState) -> None:
        loop = asyncio.get_running_loop()
        try:
            if account.probe_requested_at is not None:
                await self._book.take_probe_request(account.account_id, account.probe_requested_at)
            await self._poll(factory, account, state)
        except Exception as exc:
            if not self._db.storage.mark_failed(exc):
                log.exception("poll_job_error", account_id=account.account_id)
        finally:
            state.last_end = loop.time()
            state.task = None
            self._loop.wake()

    async def _poll(self, factory: ProviderFactory, account: AccountNow, state: _AccountState) -> None:
        account_id = account.account_id
        now = now_ms()
        if account.oldest_created_at is not None:
            since = _utc(account.oldest_created_at - self._skew_ms)
        else:  # a probe: is the back office back?
            since = _utc(now) - PROBE_WINDOW
        until = _utc(now + self._skew_ms)
        try:
            async with asyncio.timeout(self._settings.poll_timeout_seconds):
                transactions = await self._read(factory, account, state, since, until)
        except Exception as exc:  # a provider is outside code: every failure is classified, none escapes
            metrics.poll_done(account.platform, ok=False)
            await self._failed(account, state, exc)
            return
        metrics.poll_done(account.platform, ok=True)
        state.failures = state.failed_probes = 0
        if account.health is not HealthState.OK:
            await self._book.record_ok(account_id)
            self._look_again = True  # its health changed: the next decisions need the new view
            log.info("account_recovered", account_id=account_id, was=account.health.value)
        new = [tx for tx in transactions if tx.trade_no not in state.known]
        loop = asyncio.get_running_loop()
        if not new and state.matched_orders == account.live_orders and loop.time() - state.matched_at < REMATCH_S:
            state.known = frozenset(tx.trade_no for tx in transactions)
            return  # nothing the previous read did not bring, for the same orders: nothing to write or match
        await record_transactions(self._db, account_id, new)
        confirmed = await match_account(
            self._db, account_id, skew_ms=self._skew_ms,
            grace_ms=self._settings.late_payment_grace_seconds * 1000,
        )
        state.known = frozenset(tx.trade_no for tx in transactions)
        state.matched_orders, state.matched_at = account.live_orders, loop.time()
        log.debug("polled", account_id=account_id, transactions=len(transactions), new=len(new),
                  confirmed=len(confirmed))
        if confirmed:
            self._on_confirmed()

    async def _read(
        self, factory: ProviderFactory, account: AccountNow, state: _AccountState, since: datetime, until: datetime
    ) -> list[ProviderTransaction]:
        """Fetch the window, logging in first when needed and once more if the session turns out expired."""
        if state.provider is None or state.revision != account.revision:
            # built afresh when the login details changed anywhere (CLI, console, another process)
            state.provider = factory(await self._book.credentials(account.account_id))
            state.revision, state.logged_in = account.revision, False
        provider = state.provider
        note = getattr(provider, "note_waiting_since", None)
        if note is not None:  # a browser login queues behind accounts whose orders have waited longer
            note(account.oldest_created_at)
        if not state.logged_in:
            await provider.login()
            state.logged_in = True
        try:
            return await provider.fetch_transactions(since, until)
        except SessionExpired:
            state.logged_in = False
            await provider.login()
            state.logged_in = True
            return await provider.fetch_transactions(since, until)

    async def _failed(self, account: AccountNow, state: _AccountState, exc: Exception) -> None:
        failure = classify(exc)
        if failure.health is HealthState.LOGIN_FAILED:
            state.provider, state.logged_in = None, False  # rebuilt with fresh credentials when resumed
        elif failure.health is HealthState.NEEDS_HUMAN:
            state.logged_in = False
        else:
            state.failures += 1
            if not account.live:
                state.failed_probes += 1
        await self._book.record_failure(account.account_id, failure)
        self._look_again = True  # its health may have changed: the next decisions need the new view
        # A classified failure is an expected state (waiting for an SMS code, a 502): one line, no traceback.
        log.warning("poll_failed", account_id=account.account_id, error=type(exc).__name__, detail=str(exc),
                    failure=failure.kind.value, failures=state.failures, probe=not account.live,
                    exc_info=not isinstance(exc, ProviderError | TimeoutError))


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
