"""The payer's cashier page: QR, exact amount, countdown, live status and the return to the merchant."""

from __future__ import annotations

from aiohttp import web

from agent.cashier import views
from agent.web.templates import add_static, add_templates


def setup(app: web.Application) -> None:
    """Register the cashier's templates, static files and routes under ``/pay/{trade_no}``."""
    add_templates(app, "cashier", __name__)
    add_static(app, "cashier", __name__)
    app.router.add_routes(views.routes)
