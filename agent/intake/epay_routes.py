"""The epay V1 endpoints: /submit.php (browser jump), /mapi.php (server create), /api.php (queries)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from agent.appkeys import DB, SETTINGS
from agent.db import now_ms
from agent.intake.errors import IntakeError, Reason
from agent.intake.fields import MAPI, SUBMIT, CreateRules, flat_params, order_draft, parse_pid
from agent.intake.service import INTAKE
from agent.intake.signed import MD5, RSA, SIGNED, is_rsa
from agent.merchants import Merchant
from agent.money import format_yuan
from agent.orders import Order, OrderStatus, get_order, get_order_by_out_trade_no
from agent.orders.queries import latest_orders, paid_counts
from agent.timefmt import format_local
from agent.web.requests import INT64_MAX, BadRequest, parse_int, read_form

ORDERS_LIMIT_MAX = 50
_OFFSET_MAX = 1_000_000
_ORDERS_LIMIT_DEFAULT = 20

routes = web.RouteTableDef()


async def request_params(request: web.Request) -> dict[str, str]:
    """The form body of a POST (the query string when the body is empty), the query string of a GET."""
    if request.method == "POST":
        form = await read_form(request)
        if form.fields or form.files:
            return flat_params(form.pairs())
    return flat_params(request.query.items())


def cashier_path(trade_no: str) -> str:
    return f"/pay/{trade_no}"


async def _create(request: web.Request, rules: CreateRules) -> Order:
    params = await request_params(request)
    if is_rsa(params):  # epay V2 signing on the V1 path: timestamp, replay check, RSA answers
        return await request.app[SIGNED].create(params, rules)
    intake = request.app[INTAKE]
    merchant = await intake.signed_merchant(params)
    order, _ = await intake.place(order_draft(params, merchant.pid, rules))
    return order


@routes.route("GET", "/submit.php")
@routes.route("POST", "/submit.php")
async def submit(request: web.Request) -> web.StreamResponse:
    order = await _create(request, SUBMIT)
    raise web.HTTPFound(cashier_path(order.trade_no))


@routes.route("GET", "/mapi.php")
@routes.route("POST", "/mapi.php")
async def mapi(request: web.Request) -> web.StreamResponse:
    order = await _create(request, MAPI)
    payurl = request.app[SETTINGS].base_url + cashier_path(order.trade_no)
    answer = {"code": 1, "msg": "下单成功", "trade_no": order.trade_no, "payurl": payurl}
    return web.json_response(await request.app[SIGNED].answer(order.sign_type, answer))


@routes.route("GET", "/api.php")
@routes.route("POST", "/api.php")
async def api(request: web.Request) -> web.StreamResponse:
    params = await request_params(request)
    act = params.get("act", "")
    action = _ACTIONS.get(act)
    if action is None:
        raise IntakeError("act 参数无效，可选：order、orders、query")
    merchant = await _key_merchant(request, params)
    return web.json_response(await action(request, merchant, params))


async def _key_merchant(request: web.Request, params: dict[str, str]) -> Merchant:
    """api.php authenticates with the plain merchant key in the query (compared in constant time), or with a
    timestamped signature instead of the key (MD5 or RSA, as a V2 create request is verified)."""
    if not params.get("key") and params.get("sign") and params.get("pid"):
        signed = request.app[SIGNED]
        try:
            verified = await signed.verify(params, sign_types=(MD5, RSA), default=MD5)
        except IntakeError as exc:
            if exc.reason is Reason.INVALID:  # as 彩虹 does (intval): a pid that is no number names no merchant
                raise IntakeError("商户不存在", Reason.UNKNOWN_MERCHANT) from exc
            raise
        await signed.claim(verified)
        return verified.merchant
    if not params.get("pid") or not params.get("key"):
        raise IntakeError("缺少参数 pid 或 key")
    try:
        pid = parse_pid(params)
    except IntakeError as exc:  # as 彩虹 does (intval): a pid that is no number names no merchant
        raise IntakeError("商户不存在", Reason.UNKNOWN_MERCHANT) from exc
    merchant = await request.app[INTAKE].merchant(pid)
    if not hmac.compare_digest(params["key"].encode(), merchant.key.encode()):
        raise IntakeError("商户密钥错误", Reason.BAD_SIGN)
    return merchant


def epay_order(order: Order) -> dict[str, Any]:
    """An order as epay's api.php shows it: ORIGINAL money, China times, status 1 paid else 0."""
    return {
        "trade_no": order.trade_no,
        "out_trade_no": order.out_trade_no,
        "api_trade_no": order.provider_trade_no or "",
        "type": order.type or "",
        "pid": order.pid,
        "addtime": format_local(order.created_at),
        "endtime": format_local(order.paid_at),
        "name": order.name,
        "money": format_yuan(order.money_fen),
        "param": order.param,
        "buyer": "",
        "status": 1 if order.status is OrderStatus.PAID else 0,
    }


async def merchant_order(request: web.Request, merchant: Merchant, params: dict[str, str]) -> Order:
    """The merchant's order named by ``trade_no`` or ``out_trade_no`` (api.php and V2 query); IntakeError else."""
    db = request.app[DB]
    if params.get("trade_no"):
        order = await get_order(db, params["trade_no"])
    elif params.get("out_trade_no"):
        order = await get_order_by_out_trade_no(db, merchant.pid, params["out_trade_no"])
    else:
        raise IntakeError("缺少参数 trade_no 或 out_trade_no")
    if order is None or order.pid != merchant.pid:
        raise IntakeError("订单不存在", Reason.NOT_FOUND)
    return order


async def _order(request: web.Request, merchant: Merchant, params: dict[str, str]) -> dict[str, Any]:
    return {"code": 1, "msg": "查询订单成功", **epay_order(await merchant_order(request, merchant, params))}


async def _orders(request: web.Request, merchant: Merchant, params: dict[str, str]) -> dict[str, Any]:
    """Recent orders, newest first; ``limit`` above 50 is cut to 50 as 彩虹 does, ``offset`` skips the newest."""
    raw = params.get("limit", "") or str(_ORDERS_LIMIT_DEFAULT)
    try:
        limit = min(parse_int(raw, field="limit", low=1, high=INT64_MAX), ORDERS_LIMIT_MAX)
    except BadRequest as exc:
        raise IntakeError("limit 必须是正整数（最多返回 50 条）") from exc
    try:
        offset = parse_int(params.get("offset", "") or "0", field="offset", low=0, high=_OFFSET_MAX)
    except BadRequest as exc:
        raise IntakeError(f"offset 必须是 0 到 {_OFFSET_MAX} 之间的整数") from exc
    orders = await latest_orders(request.app[DB], pid=merchant.pid, limit=limit, offset=offset)
    return {"code": 1, "msg": "查询订单记录成功", "data": [epay_order(order) for order in orders]}


async def merchant_summary(request: web.Request, merchant: Merchant, params: dict[str, str]) -> dict[str, Any]:
    """api.php act=query: the merchant and its paid-order counts (the V2 merchant info reuses it)."""
    paid = await paid_counts(request.app[DB], merchant.pid, now_ms())
    return {
        "code": 1, "msg": "查询商户成功", "pid": merchant.pid, "name": merchant.name,
        "active": int(merchant.enabled), "orders": paid.total, "order_today": paid.today,
        "order_lastday": paid.yesterday,
    }


_ACTIONS = {"order": _order, "orders": _orders, "query": merchant_summary}
