"""The notify worker: sends due outbox jobs, a bounded number at a time, until the app stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import structlog

from agent.db import Database, now_ms
from agent.epay_rsa import SIGN_TYPE as RSA_SIGN_TYPE
from agent.merchants import MerchantBook
from agent.notify.egress import EgressPolicy
from agent.notify.outbox import Claim, claim_due, finish, next_due, release, requeue
from agent.notify.payload import result_params
from agent.notify.sender import notify_url, refused, send_notify
from agent.ops import metrics
from agent.ops.drain import Drain
from agent.orders import get_order
from agent.platform_key import PlatformKey
from agent.recurring import RecurringTask
from agent.settings import Settings

log = structlog.get_logger(__name__)

IDLE_CHECK_S = 1.0  # jobs written by another process (the CLI) are seen within this time
_LEASE_MARGIN_S = 30.0


class Notifier:
    """Sends signed notifies from the outbox; ``wake()`` after a confirmation makes the first try immediate."""

    def __init__(
        self, db: Database, merchants: MerchantBook, settings: Settings, session: aiohttp.ClientSession,
        drain: Drain, policy: EgressPolicy, platform: PlatformKey | None = None,
    ) -> None:
        self._db = db
        self._merchants = merchants
        self._settings = settings
        self._session = session
        self._drain = drain  # on shutdown: claim nothing new, and let the drain wait for sends
        self._policy = policy  # the session's connector judges addresses; this judges the URL itself
        self._platform = platform  # signs the notifies of orders created with RSA (epay V2)
        self._loop = RecurringTask(self._dispatch, IDLE_CHECK_S, name="notify-worker", on_error=self._step_failed)
        self._in_flight: dict[asyncio.Task[None], Claim] = {}
        self._lease_ms = int((settings.notify_timeout_seconds + _LEASE_MARGIN_S) * 1000)

    def wake(self) -> None:
        """Look for due jobs now instead of at the next idle check."""
        self._loop.wake()

    async def resend(self, trade_no: str, *, actor: str) -> None:
        """Manual resend: re-queue the order's notify (even acked or failed) and send it at once. Audited."""
        await requeue(self._db, trade_no, actor=actor)
        self.wake()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the worker for the duration of the block; on exit cut sends short and give their leases back."""
        self._loop.start()
        try:
            yield
        finally:
            cut_short = list(self._in_flight.values())
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(self._loop.stop(), *self._in_flight, return_exceptions=True)
            try:
                await release(self._db, cut_short)
            except Exception as exc:  # on a full disk the leases simply run out: the next start sends them
                if not self._db.storage.mark_failed(exc):
                    raise

    def _step_failed(self, exc: Exception) -> None:
        if not self._db.storage.mark_failed(exc):  # a full disk is logged there, once a minute
            log.exception("notify_worker_error")  # called inside the step's except block

    async def _dispatch(self) -> float:
        """Start the due jobs there is room for; returns how long to sleep unless woken.

        Reads before it claims, so an idle outbox costs no write transaction (intake needs the writer). Claims
        nothing while the storage is failing: a sent notify whose outcome cannot be written would be sent twice.
        """
        free = self._settings.notify_concurrency - len(self._in_flight)
        if free <= 0 or self._drain.draining or self._db.storage.failing:
            return IDLE_CHECK_S  # a finishing send wakes us
        due = await next_due(self._db)
        if due is None:
            return IDLE_CHECK_S
        if due > now_ms():
            return min(IDLE_CHECK_S, (due - now_ms()) / 1000)
        claims = await claim_due(self._db, free, self._lease_ms)
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim), name=f"notify-{claim.trade_no}")
            self._in_flight[task] = claim
            self._drain.track(task)
            task.add_done_callback(self._done)
        return 0.0 if claims else IDLE_CHECK_S

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        error = None if task.cancelled() else task.exception()
        if error is not None and not self._db.storage.mark_failed(error):  # the lease runs out: sent again
            log.error("notify_delivery_crashed", error=repr(error))
        self.wake()

    async def _deliver(self, claim: Claim) -> None:
        order = await get_order(self._db, claim.trade_no)
        assert order is not None  # notify_jobs.trade_no references orders
        merchant = await self._merchants.get(order.pid)
        assert merchant is not None  # orders.pid references merchants
        platform_key = None
        if order.sign_type == RSA_SIGN_TYPE:
            if self._platform is None:
                raise RuntimeError("an RSA order's notify needs the platform key")
            platform_key = await self._platform.private_key()
        url = notify_url(order.notify_url, result_params(order, merchant.key, platform_key))
        reason = self._policy.url_refusal(order.notify_url)
        if reason is not None:
            attempt = refused(url, reason)
        else:
            attempt = await send_notify(self._session, url, self._settings.notify_timeout_seconds)
        status = await finish(self._db, claim, attempt, self._settings.notify_schedule)
        metrics.notify_attempted(attempt.outcome.value)
        log.info(
            "notify_attempt", trade_no=order.trade_no, outcome=attempt.outcome.value, http_status=attempt.http_status,
            attempt=claim.attempts + 1, job=status, duration_ms=attempt.duration_ms,
        )
