"""Operations: /healthz, /metrics, event-loop lag, graceful shutdown, online backup, full-disk handling.

Hot paths all over the code import ``agent.ops.metrics``, and this package's modules import the browser
runtime and intake, so the package itself imports nothing at load time: that keeps the graph acyclic.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the health and metrics routes, the draining gate for new orders, and the loop-lag probe."""
    from agent.ops.wiring import install  # see the module docstring

    install(app)
