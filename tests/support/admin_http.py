"""A signed-in administrator over plain HTTP: the session cookie and the session's CSRF token."""

from __future__ import annotations

from dataclasses import dataclass

from agent.admin.auth import create_admin
from agent.admin.plumbing import SESSION_COOKIE, admin_auth
from agent.appkeys import DB
from tests.support.gateway import RunningGateway


@dataclass(frozen=True)
class AdminSession:
    cookie: str  # the Cookie header value
    csrf: str


async def admin_session(gateway: RunningGateway, username: str = "boss") -> AdminSession:
    """Create an administrator and open a session for them directly (the sign-in form is tested elsewhere)."""
    db = gateway.app[DB]
    admin = await create_admin(db, username, "correct horse battery")
    auth = admin_auth(gateway.settings, db)
    token = await auth.open_session(admin.id)
    session = await auth.session(token)
    assert session is not None
    return AdminSession(cookie=f"{SESSION_COOKIE}={token}", csrf=session.csrf_token)
