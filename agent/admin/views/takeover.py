"""人工接管: the account's login shown in a live view, for a signed-in admin to finish by hand.

Every route is behind the admin guard (a live session; the POSTs carry its CSRF token). The WebSocket adds
its own checks, because a browser sends cookies with a cross-site WebSocket handshake: the Origin must be this
console's, and the ``ticket`` in its URL must be one the take-over page issued to this very session for this
account, unused and fresh (agent.liveview.takeover).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from agent.accounts import Account
from agent.admin.plumbing import SESSION_COOKIE, actor, audit, path_id, render, see_other
from agent.appkeys import ACCOUNTS
from agent.liveview.socket import same_origin, serve_view
from agent.liveview.takeover import TAKEOVERS, TakeoverDesk, session_key, takeover_ctx

READY_SECONDS = 60.0  # a viewer that connects while the login page is still opening waits this long


def setup(app: web.Application, admin: web.Application) -> None:
    """The desk lives on the gateway (it needs the browser agent), the routes on the console."""
    app.cleanup_ctx.append(takeover_ctx)
    routes = admin.router
    routes.add_get(r"/accounts/{id:[0-9]+}/takeover", takeover_page)
    routes.add_post(r"/accounts/{id:[0-9]+}/takeover", takeover_start)
    routes.add_post(r"/accounts/{id:[0-9]+}/takeover/cancel", takeover_cancel)
    routes.add_get(r"/accounts/{id:[0-9]+}/takeover/socket", takeover_socket)


def _desk(request: web.Request) -> TakeoverDesk:
    desk = request.config_dict.get(TAKEOVERS)
    if desk is None:
        raise web.HTTPNotFound(text="人工接管不可用")
    return desk


async def _account(request: web.Request) -> Account:
    try:
        return await request.config_dict[ACCOUNTS].account(path_id(request))
    except LookupError as exc:
        raise web.HTTPNotFound(text="账号不存在") from exc


def _session(request: web.Request) -> str:
    return session_key(request.cookies.get(SESSION_COOKIE, ""))


def _browser_agent_runs(request: web.Request) -> bool:
    from agent.browser.agent import BROWSER_AGENT

    return BROWSER_AGENT in request.config_dict


async def takeover_page(request: web.Request) -> web.Response:
    account = await _account(request)
    desk = _desk(request)
    takeover = desk.current(account.id)
    ticket = desk.ticket(account.id, _session(request)) if takeover is not None else ""
    return render(request, "takeover.html", {
        "account": account, "takeover": takeover, "ticket": ticket, "available": _browser_agent_runs(request)})


async def takeover_start(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    if not _browser_agent_runs(request):
        raise web.HTTPConflict(text="浏览器代理未运行（MAPAY_BROWSER_AGENT=false），无法人工接管")
    if not account.enabled:
        raise web.HTTPConflict(text="账号已停用，请先启用")
    _desk(request).start(account.id, actor(request))
    await audit(request, "account.takeover", str(account.id))
    return see_other(f"/admin/accounts/{account.id}/takeover")


async def takeover_cancel(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    await _desk(request).cancel(account.id)
    await audit(request, "account.takeover_cancel", str(account.id))
    return see_other(f"/admin/accounts/{account.id}")


async def takeover_socket(request: web.Request) -> web.StreamResponse:
    account_id = path_id(request)
    desk = _desk(request)
    if not same_origin(request) or not desk.admit(account_id, request.query.get("ticket", ""), _session(request)):
        raise web.HTTPForbidden(text="refused")
    takeover = desk.current(account_id)
    if takeover is None:
        raise web.HTTPNotFound(text="没有进行中的人工接管")
    try:
        async with asyncio.timeout(READY_SECONDS):
            await takeover.ready.wait()
    except TimeoutError:
        raise web.HTTPServiceUnavailable(text="登录页仍未打开") from None
    if takeover.view is None:
        raise web.HTTPConflict(text=takeover.text)
    return await serve_view(request, takeover.view)
