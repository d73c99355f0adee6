"""The Alerter: tells the owner about a condition once, off every request's path, whatever the channels do.

Raising an alert only decides and enqueues (a plain method call, no await), so it is safe from a request
handler, a poll, or code whose database just failed. A background task delivers; each delivery has a
timeout, so a dead or hanging channel costs that task time and nothing else. Decisions use state kept in
memory and mirrored to ``alert_state`` best-effort (a failing database must not silence the alert about
it), so a restart neither resends everything nor forgets what is still open.

Three rules keep the owner informed without being flooded:

- dedupe: a key is sent once, then again only after ``alert_repeat_hours`` while its condition lasts,
  or at once when it was resolved (the condition cleared) and came back;
- retry: when every channel failed, the key may be sent again a minute later;
- rate limit: beyond ``alert_rate_limit`` alerts in ``alert_rate_window_seconds`` the rest are held and
  sent as one summary ("还有 K 条告警被合并") as soon as the window allows.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from dataclasses import dataclass
from types import TracebackType

import structlog

from agent.alerts import channels, messages
from agent.alerts.messages import Alert, Level
from agent.db import Database, now_ms
from agent.db.storage import StorageUnavailable
from agent.ops import metrics
from agent.recurring import RecurringTask
from agent.settings import Settings

log = structlog.get_logger(__name__)

RETRY_AFTER_FAILURE_MS = 60_000
DELIVERY_CONCURRENCY = 4
SHUTDOWN_GRACE_S = 2.0  # in-flight deliveries get this long on exit; the rest are sent after the restart
IDLE_ROUND_S = 30.0  # with nothing held or queued the worker waits to be woken; this is its longest sleep


@dataclass(slots=True)
class KeyState:
    """What one alert key last did (a row of ``alert_state``)."""

    title: str
    attempted_at: int
    delivered: bool
    resolved_at: int | None = None

    @property
    def active(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class _Job:
    alert: Alert
    covers: tuple[tuple[str, int], ...]  # (key, attempted_at) of every alert this message carries


class Alerter:
    """Owner alerts for one gateway. Use as ``async with Alerter(db, settings) as alerter``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._urls = list(settings.alert_urls)
        self._channels = channels.Channels(self._urls)
        self._repeat_ms = int(settings.alert_repeat_hours * 3_600_000)
        self._window_ms = int(settings.alert_rate_window_seconds * 1000)
        self._states: dict[str, KeyState] = {}
        self._dirty: set[str] = set()
        self._outbox: deque[_Job] = deque()
        self._held: list[tuple[Alert, int]] = []  # over the rate limit, waiting for the summary
        self._sent_at: deque[int] = deque()  # when each message of the current window went out
        self._in_flight: dict[asyncio.Task[None], _Job] = {}
        self._worker = RecurringTask(self._round, IDLE_ROUND_S, name="alert-worker")

    async def __aenter__(self) -> Alerter:
        channels.quiet_apprise_logging()
        await self._load()
        self._worker.start()
        if not self._urls:
            log.info("alerts_log_only", reason="MAPAY_ALERT_URLS is empty: alerts are written to this log only")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._worker.stop()
        self._start_deliveries(limit=None)  # whatever is queued gets the same short grace
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=SHUTDOWN_GRACE_S)
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._channels.close()
        for alert, attempted_at in self._held:
            self._undelivered(alert.key, attempted_at)
        await self._save()

    # --- what other components call -------------------------------------------------------------

    def raise_alert(self, key: str, title: str, body: str, *, level: Level = Level.WARNING) -> bool:
        """Tell the owner ``title``/``body`` (Simplified Chinese) unless ``key`` was told recently.

        Never blocks and never raises; True when the alert was queued (or logged), False when deduped.
        """
        return self.submit(Alert(key, title, body, level))

    def submit(self, alert: Alert) -> bool:
        """:meth:`raise_alert` for a prepared :class:`Alert`."""
        now = now_ms()
        state = self._states.get(alert.key)
        if state is not None and not self._due(state, now):
            return False
        self._states[alert.key] = KeyState(alert.title, now, delivered=True)
        self._dirty.add(alert.key)
        log.info("alert", key=alert.key, title=alert.title, body=alert.body)
        if not self._urls:
            metrics.alert_finished("logged")
        elif self._window_full(now):
            self._held.append((alert, now))
            metrics.alert_finished("merged")
        else:
            self._sent_at.append(now)
            self._outbox.append(_Job(alert, ((alert.key, now),)))
        self._worker.wake()
        return True

    def resolve(self, key: str) -> None:
        """The condition behind ``key`` cleared: the next time it is raised it is sent at once."""
        state = self._states.get(key)
        if state is not None and state.active:
            state.resolved_at = now_ms()
            self._dirty.add(key)
            self._worker.wake()

    def is_active(self, key: str) -> bool:
        """Whether ``key`` was raised and not resolved since."""
        state = self._states.get(key)
        return state is not None and state.active

    def active_keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` that were raised and not resolved (what a watcher may resolve)."""
        return [key for key, state in self._states.items() if state.active and key.startswith(prefix)]

    def report_storage_failure(self, detail: str) -> bool:
        """The database refused a write. Safe to call from the failing code itself: it touches no database."""
        return self.submit(messages.storage_failing(detail, str(self._settings.data_dir)))

    def storage_recovered(self) -> None:
        """Writes work again: a later failure is reported at once."""
        self.resolve(messages.STORAGE_KEY)

    # --- decisions --------------------------------------------------------------------------------

    def _due(self, state: KeyState, now: int) -> bool:
        if not state.active:
            return True
        wait = self._repeat_ms if state.delivered else RETRY_AFTER_FAILURE_MS
        return now - state.attempted_at >= wait

    def _window_full(self, now: int) -> bool:
        while self._sent_at and self._sent_at[0] <= now - self._window_ms:
            self._sent_at.popleft()
        return len(self._sent_at) >= self._settings.alert_rate_limit

    def _release_summary(self) -> float | None:
        """Queue the summary of held alerts once the window has room; else how many seconds until it has."""
        if not self._held:
            return None
        now = now_ms()
        if self._window_full(now):
            return max(0.0, (self._sent_at[0] + self._window_ms - now) / 1000)
        held, self._held = self._held, []
        self._sent_at.append(now)
        summary = messages.summary([alert for alert, _ in held])
        self._outbox.append(_Job(summary, tuple((alert.key, at) for alert, at in held)))
        return None

    def _undelivered(self, key: str, attempted_at: int) -> None:
        """Every channel failed: allow the key again after a short wait instead of the repeat interval."""
        state = self._states.get(key)
        if state is not None and state.attempted_at == attempted_at and state.delivered:
            state.delivered = False
            self._dirty.add(key)

    # --- the worker -------------------------------------------------------------------------------

    async def _round(self) -> float | None:
        """Release a held summary when due, start deliveries, save the dedupe state; then wait to be woken."""
        try:
            delay = self._release_summary()
            self._start_deliveries(limit=DELIVERY_CONCURRENCY)
            await self._save()
        except Exception:  # the worker outlives any bug in one round
            log.exception("alert_worker_error")
            return 1.0
        return delay

    def _start_deliveries(self, limit: int | None) -> None:
        while self._outbox and (limit is None or len(self._in_flight) < limit):
            job = self._outbox.popleft()
            task = asyncio.create_task(self._deliver(job), name=f"alert-{job.alert.key}")
            self._in_flight[task] = job
            task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._worker.wake()

    async def _deliver(self, job: _Job) -> None:
        ok = False
        try:
            deliveries = await self._channels.deliver(job.alert, self._settings.alert_send_timeout_seconds)
            for failed in (d for d in deliveries if not d.ok):
                log.warning("alert_channel_failed", channel=failed.label, service=failed.service,
                            outcome=failed.outcome.value, alert=job.alert.key)
            ok = any(d.ok for d in deliveries)
        finally:  # cut short at shutdown counts as not delivered: sent again after the restart
            metrics.alert_finished("sent" if ok else "failed")
            if not ok:
                for key, attempted_at in job.covers:
                    self._undelivered(key, attempted_at)

    # --- persistence ------------------------------------------------------------------------------

    async def _load(self) -> None:
        """Read the table back, leaving out rows so old that they would be sent again anyway (a read only: the
        gateway must start on a full disk)."""
        try:
            rows = await self._db.fetchall(
                "SELECT key, title, attempted_at, delivered, resolved_at FROM alert_state "
                "WHERE attempted_at >= ? OR (resolved_at IS NULL AND delivered = 0)", (self._stale_before(),),
            )
        except sqlite3.Error as exc:
            log.warning("alert_state_unreadable", error=str(exc))  # start empty: at worst an alert repeats
            return
        for row in rows:
            self._states[row["key"]] = KeyState(row["title"], row["attempted_at"], bool(row["delivered"]), row["resolved_at"])

    def _stale_before(self) -> int:
        return now_ms() - 2 * max(self._repeat_ms, 86_400_000)

    async def _save(self) -> None:
        if not self._dirty:
            return
        keys, self._dirty = self._dirty, set()
        rows = [
            (key, state.title, state.attempted_at, int(state.delivered), state.resolved_at)
            for key in keys if (state := self._states.get(key)) is not None
        ]
        try:
            async with self._db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO alert_state (key, title, attempted_at, delivered, resolved_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET title = excluded.title, attempted_at = excluded.attempted_at, "
                    "delivered = excluded.delivered, resolved_at = excluded.resolved_at",
                    rows,
                )
                await conn.execute(
                    "DELETE FROM alert_state WHERE attempted_at < ? AND (resolved_at IS NOT NULL OR delivered = 1)",
                    (self._stale_before(),),
                )
        except (sqlite3.Error, StorageUnavailable) as exc:
            self._dirty |= keys  # kept in memory; written when the database takes writes again
            log.warning("alert_state_not_saved", error=str(exc))
