"""The poll scheduler: reads the transaction lists of accounts with live orders, one job per account at a time.

Only accounts with live orders (pending, or expired within the late-payment grace) are read: an idle
account costs nothing and a provider sees no needless logins. Fresh accounts are read every
``poll_interval_seconds``, accounts with only expired orders every ``poll_idle_interval_seconds``, both
counted from the start of the previous read (so the read time does not add to a payment's wait) and
never closer than a provider's ``min_poll_interval`` attribute (seconds) when it has one; a read that
outlasts the interval is followed by the next one at once, never overlapped. Failures are classified by
the provider's error class (agent/providers/base.py) and written as the account's health.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from agent.db import Database, now_ms
from agent.matching import expire_overdue, match_account, record_transactions
from agent.ops import metrics
from agent.ops.drain import Drain
from agent.pool import Pool
from agent.providers.base import (
    AuthFailed,
    HealthState,
    LayoutChanged,
    NeedsHuman,
    Provider,
    ProviderError,
    ProviderFactory,
    ProviderTransaction,
    SessionExpired,
)
from agent.settings import Settings

log = structlog.get_logger(__name__)

TICK_S = 1.0  # new orders on a not yet polled account are noticed within this time
STOPPED = frozenset({HealthState.LOGIN_FAILED, HealthState.NEEDS_HUMAN})  # resumed when health is set back

_LIVE_SQL = (
    "SELECT o.account_id, p.slug, MAX(o.status = 'pending' AND o.expires_at >= ?) AS fresh, "
    "MIN(o.created_at) AS oldest, a.health, a.health_reason "
    "FROM orders o JOIN accounts a ON a.id = o.account_id JOIN platforms p ON p.id = a.platform_id "
    "WHERE a.enabled = 1 AND (o.status = 'pending' OR (o.status = 'expired' AND o.expires_at >= ?)) "
    "GROUP BY o.account_id"
)


@dataclass(frozen=True, slots=True)
class LiveAccount:
    account_id: int
    platform: str
    fresh: bool  # at least one order can still be paid
    oldest_created_at: int  # the read window starts here (minus the skew)
    health: tuple[HealthState, str | None]


@dataclass
class _AccountState:
    provider: Provider | None = None
    logged_in: bool = False
    task: asyncio.Task[None] | None = None
    requested: bool = False
    failures: int = 0
    last_start: float = -math.inf
    last_end: float = -math.inf

    @property
    def min_spacing(self) -> float:
        return float(getattr(self.provider, "min_poll_interval", 0.0) or 0.0)


class PollScheduler:
    """Decides when each account is read, reads it through its Provider, records and matches what it finds."""

    def __init__(
        self, db: Database, pool: Pool, settings: Settings, factory: ProviderFactory | None,
        on_confirmed: Callable[[], None], drain: Drain,
    ) -> None:
        self._db = db
        self._drain = drain
        self._pool = pool
        self._settings = settings
        self._factory = factory
        self._on_confirmed = on_confirmed
        self._accounts: dict[int, _AccountState] = {}
        self._wake = asyncio.Event()
        self._skew_ms = settings.match_skew_seconds * 1000

    def request_poll(self, account_id: int) -> None:
        """Read this account as soon as its spacing allows (the payer pressed "我已支付").

        Coalesces with a running job (one more read follows it); ignored while the account backs off
        after failures, is stopped (login_failed / needs_human) or has no live orders.
        """
        self._state(account_id).requested = True
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Schedule polls and expiry sweeps for the duration of the block; cancel every job on exit."""
        loop_task = asyncio.create_task(self._run(), name="poll-scheduler")
        try:
            yield
        finally:
            loop_task.cancel()
            jobs = [s.task for s in self._accounts.values() if s.task is not None]
            for job in jobs:
                job.cancel()
            await asyncio.gather(loop_task, *jobs, return_exceptions=True)

    def _state(self, account_id: int) -> _AccountState:
        return self._accounts.setdefault(account_id, _AccountState())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            self._wake.clear()
            delay = TICK_S
            try:
                # While the storage is failing, nothing found could be recorded: wait for the storage probe.
                if loop.time() >= next_sweep and not self._db.storage.failing:
                    await expire_overdue(self._db, skew_ms=self._skew_ms)
                    next_sweep = loop.time() + self._settings.expiry_sweep_seconds
                if self._factory is not None and not self._drain.draining and not self._db.storage.failing:
                    delay = min(delay, await self._start_due_jobs(self._factory, loop.time()))
            except Exception as exc:
                if not self._db.storage.mark_failed(exc):  # a full disk is logged there, once a minute
                    log.exception("poll_scheduler_error")
            delay = min(delay, max(0.0, next_sweep - loop.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _start_due_jobs(self, factory: ProviderFactory, now: float) -> float:
        """Start a job for every live account that is due; returns seconds until the next one is."""
        wait = TICK_S
        for live in await self._live_accounts():
            state = self._state(live.account_id)
            if state.task is not None or live.health[0] in STOPPED:
                continue
            due = self._due(state, live.fresh, now)
            if due > now:
                wait = min(wait, due - now)
                continue
            state.requested = False
            state.last_start = now
            state.task = asyncio.create_task(self._job(factory, live, state), name=f"poll-{live.account_id}")
            self._drain.track(state.task)
        return wait

    def _due(self, state: _AccountState, fresh: bool, now: float) -> float:
        interval = self._settings.poll_interval_seconds if fresh else self._settings.poll_idle_interval_seconds
        if state.failures:
            backoff = min(interval * 2 ** (state.failures - 1), self._settings.poll_backoff_max_seconds)
            due = state.last_end + backoff
        elif state.requested:
            due = now
        else:
            due = state.last_start + interval
        return max(due, state.last_start + state.min_spacing)

    async def _live_accounts(self) -> list[LiveAccount]:
        now = now_ms()
        rows = await self._db.fetchall(_LIVE_SQL, (now, now - self._settings.late_payment_grace_seconds * 1000))
        return [
            LiveAccount(row[0], row[1], bool(row[2]), row[3], (HealthState(row[4]), row[5])) for row in rows
        ]

    async def _job(self, factory: ProviderFactory, live: LiveAccount, state: _AccountState) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._poll(factory, live, state)
        except Exception as exc:
            if not self._db.storage.mark_failed(exc):
                log.exception("poll_job_error", account_id=live.account_id)
        finally:
            state.last_end = loop.time()
            state.task = None
            self._wake.set()

    async def _poll(self, factory: ProviderFactory, live: LiveAccount, state: _AccountState) -> None:
        account_id = live.account_id
        since = _utc(live.oldest_created_at - self._skew_ms)
        until = _utc(now_ms() + self._skew_ms)
        try:
            async with asyncio.timeout(self._settings.poll_timeout_seconds):
                transactions = await self._read(factory, account_id, state, since, until)
        except Exception as exc:  # a provider is outside code: every failure is classified, none escapes
            metrics.poll_done(live.platform, ok=False)
            await self._failed(live, state, exc)
            return
        metrics.poll_done(live.platform, ok=True)
        state.failures = 0
        await self._set_health(live, HealthState.OK, None)
        await record_transactions(self._db, account_id, transactions)
        confirmed = await match_account(
            self._db, account_id, skew_ms=self._skew_ms,
            grace_ms=self._settings.late_payment_grace_seconds * 1000,
        )
        log.debug("polled", account_id=account_id, transactions=len(transactions), confirmed=len(confirmed))
        if confirmed:
            self._on_confirmed()

    async def _read(
        self, factory: ProviderFactory, account_id: int, state: _AccountState, since: datetime, until: datetime
    ) -> list[ProviderTransaction]:
        """Fetch the window, logging in first when needed and once more if the session turns out expired."""
        if state.provider is None:
            state.provider = factory(await self._pool.credentials(account_id))
        provider = state.provider
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

    async def _failed(self, live: LiveAccount, state: _AccountState, exc: Exception) -> None:
        account_id = live.account_id
        if isinstance(exc, AuthFailed):
            state.provider, state.logged_in = None, False  # rebuilt with fresh credentials when resumed
            await self._set_health(live, HealthState.LOGIN_FAILED, str(exc) or "credentials refused")
        elif isinstance(exc, NeedsHuman):
            state.logged_in = False
            await self._set_health(live, HealthState.NEEDS_HUMAN, str(exc) or "a human step is required")
        else:
            state.failures += 1
            await self._set_health(live, HealthState.DEGRADED, _reason(exc))
        # A classified failure is an expected state (waiting for an SMS code, a 502): one line, no traceback.
        log.warning("poll_failed", account_id=account_id, error=type(exc).__name__, detail=str(exc),
                    failures=state.failures, exc_info=not isinstance(exc, ProviderError | TimeoutError))

    async def _set_health(self, live: LiveAccount, state: HealthState, reason: str | None) -> None:
        if live.health != (state, reason):
            await self._pool.set_health(live.account_id, state, reason)


def _reason(exc: Exception) -> str:
    if isinstance(exc, LayoutChanged):
        return f"{exc.step}: {exc.detail}"
    if isinstance(exc, TimeoutError):
        return "poll timed out"
    return f"{type(exc).__name__}: {exc}"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
