"""The administrator's web console under ``/admin``: server-rendered pages behind a sign-in."""

from __future__ import annotations

from aiohttp import web

from agent.admin.guard import guard
from agent.admin.views import dashboard, login, settings_page
from agent.web.templates import add_static, add_templates


def setup(app: web.Application) -> None:
    """Mount the console as a sub-application, so its guard middleware covers every admin route and no other."""
    add_templates(app, "admin", "agent.admin")
    add_static(app, "admin", "agent.admin")  # plain CSS/JS under /static/admin/, readable before sign-in
    admin = web.Application(middlewares=[guard])
    admin.router.add_get("/login", login.login_form)
    admin.router.add_post("/login", login.login_submit)
    admin.router.add_post("/logout", login.logout)
    admin.router.add_get("/", dashboard.dashboard)
    admin.router.add_get("/settings", settings_page.settings_page)
    app.add_subapp("/admin", admin)
