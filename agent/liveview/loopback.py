"""A live view on its own loopback server, for a command run where no window can open (``mapay record``).

It binds 127.0.0.1 only (a random port unless one is given) and prints one URL with a one-time token. The first
browser that opens it trades the token for an HttpOnly cookie and is sent on to the same page without it, so
the URL is worth nothing afterwards (a shell history, a screen share); the WebSocket wants that cookie and a
handshake from this server's own pages. Someone on another machine reaches it with ``ssh -L PORT:127.0.0.1:PORT``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from importlib import resources
from types import TracebackType

from aiohttp import web

from agent.liveview.socket import Command, same_origin, serve_view
from agent.liveview.stream import LiveView

COOKIE = "mapay_liveview"
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}
STATIC = {"liveview.js": "text/javascript", "liveview.css": "text/css"}

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 码支付</title><link rel="stylesheet" href="/static/liveview.css">
<script src="/static/liveview.js" defer></script></head>
<body><main class="liveview" data-liveview data-socket="/socket" data-state="connecting">
<h1 style="font-size:18px;margin:0">{title}</h1>
<p class="liveview-status" data-liveview-status>正在连接……</p>
<div class="liveview-screen" data-liveview-screen tabindex="0"></div>
<div class="liveview-tools">
<form data-liveview-type><input name="text" placeholder="手机上在此输入文字后发送" autocomplete="off"><button type="submit">发送文字</button></form>
<button type="button" data-liveview-key="Backspace">退格</button><button type="button" data-liveview-key="Enter">回车</button>
{buttons}</div>
<p style="font-size:13px;color:#57606a">{help}</p></main></body></html>
"""


def _equal(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class LoopbackViewer:
    """Serve one LiveView on 127.0.0.1 to the first browser that opens :attr:`url`."""

    def __init__(self, view: LiveView, *, title: str, help_text: str = "", port: int = 0,
                 commands: Mapping[str, tuple[str, Command]] | None = None) -> None:
        """``commands``: name -> (button label, what it does), shown as buttons under the picture."""
        self.view = view
        self._title = title
        self._help = help_text
        self._port = port
        self._commands = dict(commands or {})
        self._token = secrets.token_urlsafe(24)  # in the printed URL, good once
        self._viewer = ""  # the cookie of the browser that used it
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> LoopbackViewer:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/static/{name}", self._static)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/?token={self._token}"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.view.stop()  # ends every viewer's socket, so the server has nothing left to wait for
        if self._runner is not None:
            await self._runner.cleanup()

    def _admitted(self, request: web.Request) -> bool:
        return _equal(request.cookies.get(COOKIE, ""), self._viewer)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        if token and not self._viewer and _equal(token, self._token):
            self._viewer = secrets.token_urlsafe(32)
            answer = web.HTTPSeeOther("/", headers=HEADERS)
            answer.set_cookie(COOKIE, self._viewer, httponly=True, samesite="Strict", path="/")
            raise answer
        if not self._admitted(request):
            raise web.HTTPForbidden(text="链接无效或已被使用：每个链接只能在一个浏览器中打开一次", headers=HEADERS)
        buttons = "".join(f'<button type="button" data-liveview-command="{name}" id="command-{name}">{label}</button>'
                          for name, (label, _) in self._commands.items())
        html = PAGE.format(title=self._title, help=self._help, buttons=buttons)
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self._admitted(request) or not same_origin(request):
            raise web.HTTPForbidden(text="refused", headers=HEADERS)
        return await serve_view(request, self.view, {name: run for name, (_, run) in self._commands.items()})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = (resources.files("agent.liveview") / "static" / name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name], headers=HEADERS)
