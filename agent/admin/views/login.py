"""Sign-in and sign-out."""

from __future__ import annotations

from aiohttp import web

from agent.admin.auth import SignIn
from agent.admin.guard import LOGIN_CSRF_COOKIE, LOGIN_PATH, new_login_csrf, set_cookie
from agent.admin.plumbing import SESSION_COOKIE, auth_of, form_of, render, see_other
from agent.appkeys import SETTINGS
from agent.web.client import client_address

routes = web.RouteTableDef()

HOME = "/admin/"


def _safe_next(target: str) -> str:
    """Only ever redirect back into the admin: ``next`` must not become an open redirect."""
    if target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _login_page(request: web.Request, *, username: str = "", error: str = "", status: int = 200) -> web.Response:
    token = new_login_csrf()
    response = render(
        request, "login.html",
        {"login_csrf": token, "username": username, "error": error, "next": request.query.get("next", "")},
        status=status,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    username, password = form.get("username"), form.fields.get("password", "")
    if not username or not password:
        return _login_page(request, username=username, error="请输入用户名和密码", status=400)
    settings = request.config_dict[SETTINGS]
    result = await auth_of(request).sign_in(username, password, client_address(request, settings.trusted_proxies))
    if result.token is None:
        return _refused(request, username, result)
    response = see_other(_safe_next(form.get("next")))
    hours = settings.admin_session_hours
    set_cookie(request, response, SESSION_COOKIE, result.token, max_age=int(hours * 3600))
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return response


def _refused(request: web.Request, username: str, result: SignIn) -> web.Response:
    """401 for a wrong password, 429 (with Retry-After) while this client must wait for this username."""
    wait = f"请 {result.wait_seconds} 秒后再试"
    if not result.checked:
        error = f"密码错误次数过多，{wait}"
    else:
        error = f"用户名或密码错误；错误次数过多，{wait}" if result.wait_seconds else "用户名或密码错误"
    response = _login_page(request, username=username, error=error, status=401 if result.checked else 429)
    if result.wait_seconds:
        response.headers["Retry-After"] = str(result.wait_seconds)
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await auth_of(request).sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = see_other(LOGIN_PATH)
    response.del_cookie(SESSION_COOKIE, path="/admin")
    return response
