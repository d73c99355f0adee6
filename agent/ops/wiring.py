"""What :func:`agent.ops.setup` adds to the application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from agent.appkeys import DB, SETTINGS
from agent.ops import metrics
from agent.ops.drain import DRAIN, Drain, begin_on_shutdown, refuse_orders_while_draining
from agent.ops.health import BROWSER_PROBE, HEARTBEAT, BrowserProbe, Heartbeat, handle_healthz
from agent.ops.storage import answer_storage_failures, probe_storage
from agent.web.favicon import favicon

routes = web.RouteTableDef()
routes.get("/healthz")(handle_healthz)
routes.get("/metrics")(metrics.handle_metrics)
routes.get("/favicon.ico")(favicon)


async def _health_checks(app: web.Application) -> AsyncIterator[None]:
    heartbeat = app[HEARTBEAT] = Heartbeat(app[DB])
    probe = app[BROWSER_PROBE] = BrowserProbe(app[SETTINGS])
    yield
    await probe.close()
    await heartbeat.close()


def install(app: web.Application) -> None:
    app[DRAIN] = Drain()
    app.middlewares.append(refuse_orders_while_draining)
    app.middlewares.append(answer_storage_failures)
    app.on_shutdown.append(begin_on_shutdown)
    app.cleanup_ctx.append(_health_checks)
    app.cleanup_ctx.append(metrics.measure_loop_lag)
    app.cleanup_ctx.append(probe_storage)
    app.router.add_routes(routes)
