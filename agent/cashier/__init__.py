"""The payer's cashier page: QR, exact amount, countdown, live status and the return to the merchant."""

from __future__ import annotations

from aiohttp import web

from agent.cashier import views
from agent.web.templates import add_static, add_templates


def setup(app: web.Application) -> None:
    """Register the cashier's templates, static files and routes under ``/pay/{trade_no}``."""
    add_templates(app, "cashier", __name__)
    add_static(app, "cashier", __name__)
    app.router.add_get("/pay/{trade_no}", views.pay_page, name="cashier-page")
    app.router.add_get("/pay/{trade_no}/status", views.status, name="cashier-status")
    app.router.add_get("/pay/{trade_no}/qr", views.qr_picture, name="cashier-qr")
    app.router.add_post("/pay/{trade_no}/check", views.check_now, name="cashier-check")
    app.router.add_post("/pay/{trade_no}/method", views.choose_method, name="cashier-method")
