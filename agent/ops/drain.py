"""Graceful shutdown: refuse new orders, let running polls and notifies finish, then stop.

The server keeps listening while it drains, so a merchant whose order arrives in that window gets a clear
"try again" in the protocol's own shape instead of a refused connection, and payers keep seeing their
cashier page. Every HTTP request, and every unit of background work (workers wrap each poll or notify
attempt in :meth:`Drain.job`), counts as running: the drain waits for all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

DRAINING_MESSAGE = "服务正在停止，请稍后重试"
RETRY_AFTER_SECONDS = "30"
# Endpoints that create orders; everything else (cashier, queries, health) is still served while draining.
SUBMIT_PATH = "/submit.php"
MAPI_PATH = "/mapi.php"
_BROWSER_CREATES = (SUBMIT_PATH, "/api/pay/submit")  # epay V1 and V2 (agent/intake/v2_routes.py)
_SERVER_CREATES = (MAPI_PATH, "/api/pay/create")

_DRAINING_PAGE = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{DRAINING_MESSAGE}</title></head>
<body><p>{DRAINING_MESSAGE}</p></body></html>
"""


class Drain:
    """Counts running jobs and tells workers when to stop starting new ones."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def draining(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> int:
        return self._running

    @asynccontextmanager
    async def job(self) -> AsyncIterator[None]:
        """Wrap one request, poll or notify attempt: the drain waits for it to leave this block."""
        self._running += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._finished()

    def track(self, task: asyncio.Future[Any]) -> None:
        """Count a job that runs as its own task from now until it is done (no gap before it starts)."""
        self._running += 1
        self._idle.clear()
        task.add_done_callback(lambda _: self._finished())

    def _finished(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    async def pause(self, seconds: float) -> bool:
        """Sleep between jobs; returns True at once when draining starts, so a worker loop can end."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def begin(self) -> None:
        if not self.draining:
            self._stopping.set()
            log.info("drain_started", running_jobs=self._running)

    async def drain(self, grace: float) -> bool:
        """Start draining and wait up to ``grace`` seconds for running jobs; True if all finished."""
        self.begin()
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        except TimeoutError:
            log.warning("drain_timed_out", running_jobs=self._running, grace_s=grace)
            return False
        log.info("drain_finished", waited_ms=round((time.monotonic() - started) * 1000))
        return True


DRAIN = web.AppKey("drain", Drain)


def draining_response(request: web.Request) -> web.Response | None:
    """The 503 a new order gets during shutdown, in its endpoint's shape; None for every other request."""
    # Imported here, as agent/ops/__init__.py does: intake's package loads the allocator, which loads the orders
    # owner, which loads notify, which loads this module. Only a draining gateway gets this far.
    from agent.intake.errors import NATIVE_PREFIX, Reason

    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    path = request.path
    if path in _BROWSER_CREATES:
        return web.Response(status=503, text=_DRAINING_PAGE, content_type="text/html", headers=headers)
    if path in _SERVER_CREATES:
        return web.json_response({"code": -1, "msg": DRAINING_MESSAGE}, status=503, headers=headers)
    if path.startswith(NATIVE_PREFIX) and request.method == "POST":
        body = {"error": Reason.UNAVAILABLE.value, "message": DRAINING_MESSAGE}
        return web.json_response(body, status=503, headers=headers)
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def refuse_orders_while_draining(request: web.Request, handler: Handler) -> web.StreamResponse:
    drain = request.app[DRAIN]
    if drain.draining:
        refusal = draining_response(request)
        if refusal is not None:
            return refusal
    async with drain.job():
        return await handler(request)


async def begin_on_shutdown(app: web.Application) -> None:
    """However the server is stopped, workers see ``draining`` before their cleanup contexts run."""
    app[DRAIN].begin()
