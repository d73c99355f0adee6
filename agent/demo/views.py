"""The demo merchant's pages under ``/demo``: order form, live order list, "模拟付款", return and notify."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from agent.appkeys import ACCOUNTS, DB
from agent.cashier.payer import payer_status
from agent.db import now_ms
from agent.demo.shop import PAY_TYPES, OrderRefused, ShopOrder
from agent.demo.state import DEMO, Demo
from agent.demo.world import LOGIN_STYLES, PLATFORM_TITLES, put_first_in_line
from agent.money import format_yuan
from agent.orders import Order, OrderStatus, get_order
from agent.providers.base import HealthState
from agent.web.templates import add_static, add_templates

routes = web.RouteTableDef()

STATUS_LABELS = {
    OrderStatus.PENDING: "待支付",
    OrderStatus.PAID: "已支付",
    OrderStatus.EXPIRED: "已过期",
    OrderStatus.CLOSED: "已关闭",
}
HEALTH_LABELS = {
    HealthState.OK: "正常",
    HealthState.DEGRADED: "重试中",
    HealthState.LOGIN_FAILED: "登录失败",
    HealthState.NEEDS_HUMAN: "等待短信验证码",
}
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class OrderRow:
    shop: ShopOrder
    order: Order
    platform: str
    status: str
    pay_yuan: str
    payable: bool  # pending and not past its expiry: "模拟付款" makes sense
    notified: bool


async def _order_rows(request: web.Request, demo: Demo) -> list[OrderRow]:
    rows, now = [], now_ms()
    for shop_order in sorted(demo.shop.orders.values(), key=lambda o: o.created_at, reverse=True):
        order = await get_order(request.app[DB], shop_order.trade_no)
        if order is None:
            continue  # the shop records only orders mapi.php created: this cannot happen
        account = demo.account_of(order.account_id)
        status = payer_status(order, now)
        rows.append(OrderRow(
            shop=shop_order, order=order, platform=account.title if account else "",
            status=STATUS_LABELS[status], pay_yuan=format_yuan(order.pay_amount_fen),
            payable=status is OrderStatus.PENDING, notified=demo.shop.notified(shop_order.out_trade_no),
        ))
    return rows


async def _live_context(request: web.Request) -> dict[str, Any]:
    demo = request.app[DEMO]
    accounts = await request.app[ACCOUNTS].accounts()
    return {
        "rows": await _order_rows(request, demo),
        "notifies": list(reversed(demo.shop.notifies)),
        "accounts": [
            {"title": PLATFORM_TITLES.get(a.platform, a.platform), "login": LOGIN_STYLES.get(a.platform, ""),
             "health": HEALTH_LABELS[a.health], "ok": a.health is HealthState.OK}
            for a in accounts if demo.account_of(a.id) is not None
        ],
    }


def _render(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    response = aiohttp_jinja2.render_template(f"demo/{template}", request, context)
    response.headers.update(_NO_STORE)
    return response


@routes.get("/demo")
async def index(request: web.Request) -> web.Response:
    demo = request.app[DEMO]
    context = {
        **await _live_context(request),
        "merchant": demo.shop.merchant,
        "pay_types": PAY_TYPES,
        "platforms": {slug: account.title for slug, account in demo.accounts.items()},
        "notice": request.query.get("notice", ""),
        "waiting": request.query.get("waiting", ""),
    }
    return _render(request, "index.html", context)


@routes.get("/demo/live")
async def live(request: web.Request) -> web.Response:
    """The order, account and notify lists alone: the page swaps them in every two seconds."""
    return _render(request, "_live.html", await _live_context(request))


@routes.post("/demo/orders")
async def create_order(request: web.Request) -> web.Response:
    demo = request.app[DEMO]
    form = await request.post()
    money, name = str(form.get("money", "")), str(form.get("name", "")).strip()
    pay_type, platform = str(form.get("type", "")), str(form.get("platform", ""))
    if pay_type not in PAY_TYPES:
        return _result(request, problem="请选择支付方式")
    if platform:
        account = demo.accounts.get(platform)
        if account is None:
            return _result(request, problem="未知的收款平台")
        await put_first_in_line(request.app[DB], account.code_id)
    try:
        order = await demo.shop.place_order(demo.http, money, name, pay_type)
    except OrderRefused as exc:
        return _result(request, problem=f"下单失败：{exc}")
    raise web.HTTPSeeOther(order.payurl)


@routes.post("/demo/orders/{out_trade_no}/pay")
async def simulate_payment(request: web.Request) -> web.Response:
    """"模拟付款": the payer pays exactly the payable amount into the order's code, on its back office."""
    demo = request.app[DEMO]
    shop_order = demo.shop.orders.get(request.match_info["out_trade_no"])
    order = await get_order(request.app[DB], shop_order.trade_no) if shop_order else None
    if shop_order is None or order is None:
        raise _back(notice="订单不存在")
    if not order.is_open_at(now_ms()):
        raise _back(notice=f"订单 {shop_order.out_trade_no} 已不是待支付状态")
    account = demo.account_of(order.account_id)
    if account is None or order.type not in PAY_TYPES:
        raise _back(notice="该订单不是演示收款码的订单")
    payment = await account.pay(order.pay_amount_fen, order.type)
    shop_order.simulated_trade_no = str(payment["trade_no"])
    raise _back(notice=f"已在{account.title}模拟后台记录一笔 {format_yuan(order.pay_amount_fen)} 元的付款，"
                        "等待 mapay 读取并确认", waiting=shop_order.out_trade_no)


@routes.get("/demo/return")
async def return_page(request: web.Request) -> web.Response:
    """The merchant's return_url: trusts the redirect only if its signature and money check out."""
    params = dict(request.query)
    problem = request.app[DEMO].shop.check_result(params)
    return _result(request, problem=problem, params=params)


@routes.route("*", "/demo/notify")
async def notify(request: web.Request) -> web.Response:
    """The merchant's notify_url: ``success`` for a genuine notify, anything else makes mapay retry."""
    params = dict(request.query) if request.method == "GET" else {k: str(v) for k, v in (await request.post()).items()}
    valid = request.app[DEMO].shop.receive_notify(params)
    return web.Response(text="success" if valid else "fail", headers=_NO_STORE)


def _result(request: web.Request, *, problem: str | None, params: dict[str, str] | None = None) -> web.Response:
    return _render(request, "result.html", {"problem": problem, "params": params or {}})


def _back(*, notice: str, waiting: str = "") -> web.HTTPSeeOther:
    """Back to /demo with a notice; ``waiting``: the order the notice waits for (the page updates it once paid)."""
    query = {"notice": notice, **({"waiting": waiting} if waiting else {})}
    return web.HTTPSeeOther(f"/demo?{urlencode(query)}")


def setup(app: web.Application) -> None:
    """Register the demo merchant's templates, static files and routes under ``/demo``."""
    add_templates(app, "demo", "agent.demo")
    add_static(app, "demo", "agent.demo")
    app.router.add_routes(routes)
