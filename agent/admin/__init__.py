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
    for view in (login, dashboard, merchants, accounts, codes, orders, unmatched, settings_page):
        admin.router.add_routes(view.routes)
    setup_takeover(app, admin)  # 人工接管: its desk on the gateway, its routes here
    app.add_subapp("/admin", admin)
