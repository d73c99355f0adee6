"""``mapay serve``: run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

from agent.app import create_app
from agent.ops.serving import run
from agent.settings import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    app = create_app(settings)
    run(app, settings.host, settings.port)  # drains on SIGTERM before stopping (agent/ops/serving.py)
    return 0
