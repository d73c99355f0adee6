"""Order intake: the epay V1 and V2 (RSA) endpoints and the native JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from agent.allocation import Allocator
from agent.appkeys import DB, MERCHANTS, SETTINGS
from agent.intake import epay_routes, native, v2_routes
from agent.intake.errors import intake_errors
from agent.intake.service import INTAKE, IntakeService
from agent.notify.egress import EGRESS


async def _service(app: web.Application) -> AsyncIterator[None]:
    db = app[DB]
    app[INTAKE] = IntakeService(db, app[MERCHANTS], Allocator(db, app[SETTINGS]), app[EGRESS])
    yield


def setup(app: web.Application) -> None:
    """Register the epay and native routes, their error middleware and the intake service."""
    app.middlewares.append(intake_errors)
    app.router.add_routes(epay_routes.routes)
    app.router.add_routes(native.routes)
    app.cleanup_ctx.append(_service)
    v2_routes.setup(app)  # its signed-request service builds on the intake service
