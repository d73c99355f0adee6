"""A merchant's return page on loopback that records the query strings the payer's browser brings back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from multidict import MultiDict

from tests.support.gateway import loopback_socket


@dataclass
class MerchantSite:
    url: str
    returns: list[MultiDict[str]] = field(default_factory=list)


@asynccontextmanager
async def merchant_site() -> AsyncIterator[MerchantSite]:
    sock = loopback_socket()
    site = MerchantSite(url=f"http://127.0.0.1:{sock.getsockname()[1]}")

    async def returned(request: web.Request) -> web.Response:
        site.returns.append(MultiDict(request.query))
        return web.Response(text="<h1>商户订单页</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/return", returned)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield site
    finally:
        await runner.cleanup()
