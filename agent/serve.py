"""``mapay serve``: run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

from aiohttp import web

from agent.app import create_app
from agent.settings import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    app = create_app(settings)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0
