"""``/healthz``: the process answers, the database takes a write, a browser can be started.

The browser check really launches (or connects to) Chromium, which costs about a second, so its result
is cached for ``browser_check_seconds`` and refreshed in the background; only the very first request
waits for it, and only up to :data:`FIRST_CHECK_WAIT` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Literal

import structlog
from aiohttp import web

from agent.appkeys import STORAGE
from agent.browser.runtime import BrowserRuntime
from agent.db import Database, now_ms
from agent.ops.drain import DRAIN
from agent.settings import Settings

log = structlog.get_logger(__name__)

DATABASE_TIMEOUT = 5.0
BROWSER_TIMEOUT = 30.0
FIRST_CHECK_WAIT = 10.0
FAILED_RECHECK_SECONDS = 60.0

BrowserState = Literal["ok", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class BrowserCheck:
    status: BrowserState
    detail: str
    checked_at: int | None = None  # ms epoch


async def write_heartbeat(db: Database) -> None:
    """Rewrite the one row of ``ops_heartbeat``: the smallest real write transaction."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO ops_heartbeat (id, beat_at) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
            (now_ms(),),
        )


class Heartbeat:
    """Rewrites the heartbeat row in a write transaction to prove the database takes writes.

    A write stuck behind another writer is never cancelled (cancelling an aiosqlite call does not stop it,
    and a BEGIN that lands later would leave the connection inside a transaction); the check stops
    waiting for it instead, and the next check waits for the same write rather than queueing another.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._write: asyncio.Task[None] | None = None

    async def check(self) -> str | None:
        """The error text, or None when the write committed."""
        if self._write is None or self._write.done():
            self._write = asyncio.create_task(write_heartbeat(self._db), name="health-heartbeat")
        done, _ = await asyncio.wait({self._write}, timeout=DATABASE_TIMEOUT)
        if not done:
            return f"no write transaction within {DATABASE_TIMEOUT:g}s"
        error = self._write.exception()
        return None if error is None else f"{type(error).__name__}: {error}"

    async def close(self) -> None:
        """Let a pending write end (it gives up by itself after SQLite's busy timeout) before the DB closes."""
        if self._write is not None:
            await asyncio.gather(self._write, return_exceptions=True)


async def launch_browser(settings: Settings) -> str:
    """Open a context and render a page on every browser the agent would use; raises when one fails.

    Goes through the agent's own :class:`BrowserRuntime`, one endpoint at a time, so the check starts (or
    connects to) Chromium exactly as account jobs do: the local launch, or each of ``browser_endpoints``.
    """
    endpoints: list[str | None] = list(settings.browser_endpoints) or [None]
    for endpoint in endpoints:
        one = settings.model_copy(update={"browser_endpoints": [] if endpoint is None else [endpoint]})
        async with BrowserRuntime(one, headless=True) as runtime:
            context = await runtime.new_context(account_id=0)
            try:
                page = await context.new_page()
                await page.set_content("<p>ok</p>")
            finally:
                await context.close()
    return f"{len(endpoints)} remote endpoint(s) reachable" if settings.browser_endpoints else "chromium launches"


class BrowserProbe:
    """The cached result of a real browser start, refreshed in the background when it gets old."""

    def __init__(self, settings: Settings, check: Callable[[Settings], Awaitable[str]] = launch_browser) -> None:
        self._settings = settings
        self._check = check
        self._last: BrowserCheck | None = None
        self._task: asyncio.Task[None] | None = None

    def _stale(self) -> bool:
        if self._last is None or self._last.checked_at is None:
            return True
        max_age = self._settings.browser_check_seconds
        if self._last.status == "failed":
            max_age = min(max_age, FAILED_RECHECK_SECONDS)
        return now_ms() - self._last.checked_at > max_age * 1000

    async def _run(self) -> None:
        started = time.monotonic()
        try:
            detail = await asyncio.wait_for(self._check(self._settings), timeout=BROWSER_TIMEOUT)
            self._last = BrowserCheck("ok", detail, now_ms())
        except Exception as exc:  # a browser that cannot start is what this probe reports
            self._last = BrowserCheck("failed", f"{type(exc).__name__}: {exc}"[:500], now_ms())
            log.warning("browser_check_failed", detail=self._last.detail)
        log.debug("browser_checked", status=self._last.status, ms=round((time.monotonic() - started) * 1000))

    async def result(self) -> BrowserCheck:
        if self._stale() and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="browser-health-check")
        if self._last is None and self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=FIRST_CHECK_WAIT)
            except TimeoutError:
                return BrowserCheck("unknown", "first launch check still running")
        return self._last or BrowserCheck("unknown", "not checked yet")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


BROWSER_PROBE = web.AppKey("browser_probe", BrowserProbe)
HEARTBEAT = web.AppKey("heartbeat", Heartbeat)


async def handle_healthz(request: web.Request) -> web.Response:
    """200 when healthy; 503 when the database refuses writes, Chromium cannot start, or we are stopping.

    While the storage is failing (full disk...) the answer says why, in Chinese and as a machine reason,
    without another write: the storage probe (agent/ops/storage.py) is what tries again.
    """
    app = request.app
    if app[DRAIN].draining:  # going away: tell the proxy or orchestrator now, skip the checks
        return web.json_response({"status": "draining"}, status=503)
    storage = app[STORAGE]
    db_error = None if storage.failing else await app[HEARTBEAT].check()
    browser = await app[BROWSER_PROBE].result()
    status = storage.status  # the heartbeat itself may just have found the disk full
    database: dict[str, object] = {"ok": db_error is None, "detail": db_error or "writable"}
    if status.failing:
        database = {"ok": False, "detail": status.message, "reason": status.reason,
                    "failing_since": status.failing_since}
    healthy = not status.failing and db_error is None and browser.status != "failed"
    body: dict[str, object] = {"status": "ok" if healthy else "unhealthy"}
    if status.failing:
        body |= {"reason": status.reason, "message": status.message}
    body |= {"database": database, "browser": asdict(browser)}
    return web.json_response(body, status=200 if healthy else 503)
