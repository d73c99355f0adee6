"""Run the app until SIGTERM/SIGINT, draining before aiohttp's own shutdown.

``web.run_app`` closes the listening socket the moment a signal arrives, so nobody could be told to retry;
here the socket stays open while :class:`~agent.ops.drain.Drain` waits for running work, then the normal
aiohttp cleanup runs (on_shutdown, in-flight requests, cleanup contexts: workers, browser, database).
"""

from __future__ import annotations

import asyncio
import signal

import structlog
import uvloop
from aiohttp import web

from agent.appkeys import SETTINGS
from agent.ops.connections import GuardedSite
from agent.ops.drain import DRAIN
from agent.web.listening import remember

log = structlog.get_logger(__name__)

# After the drain, requests still in flight get this long; ours are short (no request waits on a browser).
REQUEST_GRACE_SECONDS = 5.0


async def serve_until_signalled(app: web.Application, host: str, port: int) -> None:
    settings = app[SETTINGS]
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=REQUEST_GRACE_SECONDS,
        keepalive_timeout=settings.keepalive_timeout_seconds,
    )
    await runner.setup()
    try:
        await GuardedSite(runner, host, port).start()  # header/body deadlines, connections per client
        remember(app, runner)  # the notifier never calls these
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("serving", host=host, port=port, url=settings.base_url)
        await stop.wait()
        log.info("stop_requested")
        await app[DRAIN].drain(settings.shutdown_timeout_seconds)
    finally:
        await runner.cleanup()
        log.info("stopped")


def run(app: web.Application, host: str, port: int) -> None:
    """Blocking entry point for ``mapay serve``; returns after a clean shutdown."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_until_signalled(app, host, port))
