"""The test merchant's site of ``mapay try``: receives the gateway's notifies and the payer's return.

A real merchant site checks each notify's signature with its key and answers ``success``; this one does the
same for the test merchant (any merchant of this database, in fact) and says on its terminal what it got, so
the deployer sees the last step of a payment too.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from agent import epay
from agent.merchants import MerchantBook


async def _checked(merchants: MerchantBook, params: Mapping[str, str]) -> str | None:
    """Why the notify or return must not be trusted, or None when its signature is the merchant's."""
    pid = params.get("pid", "")
    merchant = await merchants.get(int(pid)) if pid.isdigit() and len(pid) < 12 else None
    if merchant is None or not epay.verify(params, merchant.key):
        return "签名错误"
    if params.get("trade_status") != "TRADE_SUCCESS":
        return "交易状态错误"
    return None


def _page(title: str, body: str) -> web.Response:
    text = (f"<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><body style='font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em'>"
            f"<h1>{title}</h1>{body}</body></html>")
    return web.Response(text=text, content_type="text/html")


def site_app(merchants: MerchantBook) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request: web.Request) -> web.Response:
        return _page("试用商户网站", "<p>mapay try 的商户网站：接收支付结果通知，付款后收银台跳转回这里。</p>")

    @routes.route("*", "/notify")
    async def notify(request: web.Request) -> web.Response:
        params = dict(request.query) if request.method == "GET" else {k: str(v) for k, v in (await request.post()).items()}
        problem = await _checked(merchants, params)
        outcome = "签名正确，已回复 success" if problem is None else f"{problem}，已回复 fail"
        print(f"试用商户网站收到支付结果通知：订单 {params.get('out_trade_no', '?')}，金额 {params.get('money', '?')} 元，"
              f"{outcome}", flush=True)
        return web.Response(text="success" if problem is None else "fail")

    @routes.get("/return")
    async def return_page(request: web.Request) -> web.Response:
        params = dict(request.query)
        problem = await _checked(merchants, params)
        if problem:
            return _page("支付结果无法确认", f"<p>{html.escape(problem)}</p>")
        return _page("支付成功", f"<p>订单 {html.escape(params.get('out_trade_no', ''))} 已支付 "
                             f"{html.escape(params.get('money', ''))} 元（模拟付款，没有真实资金流动）。</p>")

    app = web.Application()
    app.add_routes(routes)
    return app


@contextlib.asynccontextmanager
async def serve_site(port: int, merchants: MerchantBook) -> AsyncIterator[str]:
    """Serve the site on 127.0.0.1:``port`` for the duration of the block; yields its URL."""
    runner = web.AppRunner(site_app(merchants), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
