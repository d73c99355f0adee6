"""The native JSON API: the same operations as epay, JSON in and out, amounts as yuan strings.

Requests are signed with the epay MD5 rule over their fields (JSON values as strings; for GET, the query
parameters plus the ``trade_no`` from the path), so merchants reuse the signing code they already have.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.allocation.clock import iso_time
from agent.appkeys import DB, SETTINGS
from agent.intake.epay_routes import cashier_path
from agent.intake.errors import NATIVE_PREFIX, IntakeError, Reason
from agent.intake.fields import NATIVE, flat_params, order_draft
from agent.intake.openapi import OPENAPI
from agent.intake.service import INTAKE
from agent.money import format_yuan
from agent.orders import Order, get_order
from agent.web.requests import read_json

routes = web.RouteTableDef()


def native_order(order: Order, base_url: str) -> dict[str, Any]:
    return {
        "trade_no": order.trade_no,
        "out_trade_no": order.out_trade_no,
        "pid": order.pid,
        "type": order.type,
        "name": order.name,
        "money": format_yuan(order.money_fen),
        "pay_amount": format_yuan(order.pay_amount_fen),
        "status": order.status.value,
        "payurl": base_url + cashier_path(order.trade_no),
        "created_at": iso_time(order.created_at),
        "expires_at": iso_time(order.expires_at),
        "paid_at": iso_time(order.paid_at),
        "param": order.param,
        "sitename": order.sitename,
    }


async def _json_fields(request: web.Request) -> dict[str, str]:
    """A JSON object of string fields (an integer ``pid`` is accepted); floats are refused for money's sake."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise IntakeError("请求体必须是 JSON 对象")
    pairs: list[tuple[str, object]] = []
    for key, value in body.items():
        if key == "pid" and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's "integer" includes 2345.0
        if key == "pid" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None:
            continue
        if not isinstance(value, str):
            raise IntakeError(f"字段 {key[:32]} 必须是字符串")
        pairs.append((key, value))
    return flat_params(pairs)


@routes.post(NATIVE_PREFIX + "orders")
async def create_order(request: web.Request) -> web.StreamResponse:
    params = await _json_fields(request)
    intake = request.app[INTAKE]
    merchant = await intake.signed_merchant(params)
    order, created = await intake.place(order_draft(params, merchant.pid, NATIVE))
    body = native_order(order, request.app[SETTINGS].base_url)
    return web.json_response(body, status=201 if created else 200)


@routes.get(NATIVE_PREFIX + "orders/{trade_no}")
async def show_order(request: web.Request) -> web.StreamResponse:
    params = flat_params(request.query.items())
    if "trade_no" in params:
        raise IntakeError("trade_no 只能出现在路径中")
    params["trade_no"] = request.match_info["trade_no"]
    merchant = await request.app[INTAKE].signed_merchant(params)
    order = await get_order(request.app[DB], params["trade_no"])
    if order is None or order.pid != merchant.pid:
        raise IntakeError("订单不存在", Reason.NOT_FOUND)
    return web.json_response(native_order(order, request.app[SETTINGS].base_url))


@routes.get(NATIVE_PREFIX + "openapi.json")
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(OPENAPI)
