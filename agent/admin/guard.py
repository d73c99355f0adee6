"""The admin's front door: every request needs a live session, every POST the session's CSRF token.

Only the sign-in page is open. It is protected against login CSRF by a double-submit cookie instead, since
there is no session yet to hold a token.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from agent.admin.plumbing import FORM_KEY, SESSION_COOKIE, SESSION_KEY, auth_of, read_admin_form
from agent.web.requests import BadRequest

LOGIN_PATH = "/admin/login"
LOGIN_CSRF_COOKIE = "mapay_admin_login"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def _refused(message: str, status: int = 403) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain", charset="utf-8")


def _tokens_equal(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unreadable requests are refused before anything else; the handler runs only behind a session."""
    unmatched = request.match_info.http_exception
    if unmatched is not None and unmatched.status == 405:
        raise unmatched  # with its Allow header, whoever asks: the console's routes are no secret
    try:
        return await _guarded(request, handler)
    except BadRequest as exc:  # a malformed body, or a number in a form or query that is not one
        return _refused(exc.message, status=exc.status)


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS:
        request[FORM_KEY] = await read_admin_form(request)
    submitted = request[FORM_KEY].get("_csrf") if FORM_KEY in request else ""
    if request.path == LOGIN_PATH:
        if request.method not in SAFE_METHODS and not _tokens_equal(
            submitted, request.cookies.get(LOGIN_CSRF_COOKIE, "")
        ):
            return _refused("页面已过期，请刷新后重新登录")
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await auth_of(request).session(token) if token else None
    if session is None:
        if request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(URL(LOGIN_PATH).with_query(next=request.rel_url.path_qs))
        return _refused("请先登录")
    if request.method not in SAFE_METHODS and not _tokens_equal(submitted, session.csrf_token):
        return _refused("安全校验失败（CSRF），请刷新页面后重试")
    request[SESSION_KEY] = session
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Strict, scoped to /admin; Secure whenever the public URL is https."""
    response.set_cookie(
        name, value, max_age=max_age, path="/admin", httponly=True, samesite="Strict",
        secure=request.url.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https",
    )
