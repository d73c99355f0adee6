"""Request plumbing shared by the admin views: the signed-in session, parsed forms, rendering, redirects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from agent import labels
from agent.admin.auth import AdminAuth, Session
from agent.appkeys import DB, SETTINGS
from agent.audit import record_audit
from agent.db import Database
from agent.money import format_yuan
from agent.settings import Settings
from agent.timefmt import format_local
from agent.web.requests import FORM_MAX_BYTES, BadRequest, Form, Upload, parse_id, read_form

SESSION_COOKIE = "mapay_admin"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a phone photo of a QR plate; the app-wide body limit is much smaller

__all__ = ["Form", "Upload"]  # the admin views import them from here

SESSION_KEY = web.RequestKey("admin_session", Session)
FORM_KEY = web.RequestKey("admin_form", Form)


def admin_auth(settings: Settings, db: Database) -> AdminAuth:
    return AdminAuth(
        db,
        session_ms=int(settings.admin_session_hours * 3_600_000),
        max_failures=settings.admin_max_failures,
        max_wait_ms=int(settings.admin_lockout_minutes * 60_000),
    )


def auth_of(request: web.Request) -> AdminAuth:
    return admin_auth(request.config_dict[SETTINGS], request.config_dict[DB])


def session_of(request: web.Request) -> Session:
    return request[SESSION_KEY]


def actor(request: web.Request) -> str:
    """How the audit trail names the signed-in administrator."""
    return f"admin:{session_of(request).admin.username}"


def form_of(request: web.Request) -> Form:
    return request[FORM_KEY]


async def read_admin_form(request: web.Request) -> Form:
    """The POSTed form, with room for a QR picture in a multipart upload (raises BadRequest)."""
    multipart = request.content_type == "multipart/form-data"
    return await read_form(request, max_bytes=MAX_UPLOAD_BYTES if multipart else FORM_MAX_BYTES)


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the URL; one that no row can have (too large for SQLite) is simply not found."""
    try:
        return parse_id(request.match_info[name], field=name)
    except BadRequest as exc:
        raise web.HTTPNotFound(text="页面不存在") from exc


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """Render ``admin/<template>`` with the layout's needs: session, CSRF token, formatting helpers."""
    session = request.get(SESSION_KEY)
    base = {
        "session": session,
        "csrf": session.csrf_token if session else "",
        "path": request.path,
        "yuan": format_yuan,
        "when": format_local,
        "labels": labels.ALL,
    }
    return aiohttp_jinja2.render_template(f"admin/{template}", request, {**base, **context}, status=status)


def see_other(location: str) -> web.Response:
    """POST-redirect-GET, so reloading a result page never repeats an action."""
    return web.Response(status=303, headers={"Location": location})


async def audit(request: web.Request, action: str, target: str, detail: Mapping[str, Any] | None = None) -> None:
    """Record an admin action that its owning module does not audit itself (never with secrets)."""
    await record_audit(request.config_dict[DB], actor(request), action, target, detail or {})
