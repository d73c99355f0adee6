"""The administrator's web console under ``/admin``: server-rendered pages behind a sign-in."""

from __future__ import annotations

from aiohttp import web

from agent.admin.guard import guard
from agent.admin.views import accounts, codes, dashboard, login, merchants, orders, settings_page, unmatched
from agent.admin.views.takeover import setup as setup_takeover
from agent.web.templates import add_static, add_templates


def setup(app: web.Application) -> None:
    """Mount the console as a sub-application, so its guard middleware covers every admin route and no other."""
    add_templates(app, "admin", "agent.admin")
    add_static(app, "admin", "agent.admin")  # plain CSS/JS under /static/admin/, readable before sign-in
    add_static(app, "liveview", "agent.liveview")  # the live view's script and style (人工接管)
    admin = web.Application(middlewares=[guard])
    routes = admin.router
    routes.add_get("/login", login.login_form)
    routes.add_post("/login", login.login_submit)
    routes.add_post("/logout", login.logout)
    routes.add_get("/", dashboard.dashboard)
    routes.add_get("/merchants", merchants.merchants_page)
    routes.add_post("/merchants", merchants.merchant_create)
    routes.add_post(r"/merchants/{pid:[0-9]+}/rotate", merchants.merchant_rotate)
    routes.add_post("/merchants/rsa-key", merchants.merchant_rsa_key)
    routes.add_get("/accounts", accounts.accounts_page)
    routes.add_post("/accounts", accounts.account_add)
    routes.add_get(r"/accounts/{id:[0-9]+}", accounts.account_page)
    routes.add_post(r"/accounts/{id:[0-9]+}", accounts.account_edit)
    routes.add_post(r"/accounts/{id:[0-9]+}/enabled", accounts.account_enable)
    routes.add_post(r"/accounts/{id:[0-9]+}/test", accounts.account_test)
    routes.add_post(r"/accounts/{id:[0-9]+}/otp", accounts.account_otp)
    routes.add_post(r"/accounts/{id:[0-9]+}/retry", accounts.account_retry)
    routes.add_get(r"/accounts/{id:[0-9]+}/snapshots/{stamp}/{name}", accounts.snapshot_file)
    routes.add_get("/codes", codes.codes_page)
    routes.add_post("/codes", codes.code_add)
    routes.add_get(r"/codes/{id:[0-9]+}", codes.code_page)
    routes.add_post(r"/codes/{id:[0-9]+}", codes.code_edit)
    routes.add_post(r"/codes/{id:[0-9]+}/enabled", codes.code_enable)
    routes.add_get("/orders", orders.orders_page)
    routes.add_get("/orders/{trade_no}", orders.order_page)
    routes.add_post("/orders/{trade_no}/{action:mark_paid|resend|close}", orders.order_action)
    routes.add_get("/unmatched", unmatched.unmatched_page)
    routes.add_post(r"/transactions/{id:[0-9]+}/{action:attach|dismiss}", unmatched.transaction_action)
    routes.add_get("/settings", settings_page.settings_page)
    setup_takeover(app, admin)  # 人工接管: its desk on the gateway, its routes here
    app.add_subapp("/admin", admin)
