"""Request plumbing shared by the admin views: the signed-in session, parsed forms, rendering, redirects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from multidict import MultiDict

from agent.admin import labels
from agent.admin.auth import AdminAuth, Session
from agent.audit import write_audit
from agent.db import Database
from agent.keys import DB, SETTINGS
from agent.money import format_yuan
from agent.settings import Settings
from agent.timefmt import format_local

SESSION_COOKIE = "mapay_admin"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a phone photo of a QR plate; the app-wide body limit is much smaller


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Form:
    """A POSTed form: text fields and uploaded files, read once by the guard middleware."""

    fields: MultiDict[str] = field(default_factory=MultiDict)
    files: dict[str, Upload] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


class FormTooLarge(Exception):
    """The request body is larger than any admin form needs."""


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


async def read_form(request: web.Request) -> Form:
    """Parse an urlencoded or multipart body with our own size cap (uploads bypass ``client_max_size``)."""
    form = Form()
    if request.content_type != "multipart/form-data":
        if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
            raise FormTooLarge
        body = await request.post()
        form.fields.extend((k, v) for k, v in body.items() if isinstance(v, str))
        return form
    reader = await request.multipart()
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = bytearray()
        while chunk := await part.read_chunk():
            total += len(chunk)
            if total > MAX_UPLOAD_BYTES:
                raise FormTooLarge
            data.extend(chunk)
        if part.filename is None:
            form.fields.add(part.name, data.decode("utf-8", errors="replace"))
        elif data:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            form.files[part.name] = Upload(part.filename, content_type, bytes(data))
    return form


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
    async with request.config_dict[DB].transaction() as conn:
        await write_audit(conn, actor(request), action, target, detail or {})
