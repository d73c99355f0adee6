"""The epay V2 (彩虹易支付 V2, RSA) endpoints under /api/pay/ and /api/merchant/.

Requests are signed by the merchant's RSA private key (``sign_type=RSA``, a 10-digit ``timestamp``; rules in
agent/intake/signed.py); success answers carry ``code: 0`` and are signed with the platform private key.
Orders are placed through the same intake service, field checks and allocator as epay V1.

``/api/pay/create`` answers ``pay_type=jump`` with our cashier page: the payer must see the exact (possibly
adjusted) amount to pay, which only the cashier shows. There is no refund: a static QR code has no refund
API, the owner refunds in the provider's back office; ``/api/pay/refund`` says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from agent.appkeys import DB, SETTINGS
from agent.intake import epay_routes
from agent.intake.epay_routes import cashier_path, epay_order, merchant_order, request_params
from agent.intake.errors import IntakeError
from agent.intake.fields import MAPI, SUBMIT
from agent.intake.service import INTAKE
from agent.intake.signed import RSA, SIGNED, SignedRequests, Verified
from agent.merchants import Merchant
from agent.platform_key import PLATFORM_KEY

V2_PREFIX = "/api/pay/"
SUBMIT_PATH = V2_PREFIX + "submit"
CREATE_PATH = V2_PREFIX + "create"
QUERY_PATH = V2_PREFIX + "query"
REFUND_PATH = V2_PREFIX + "refund"
INFO_PATH = "/api/merchant/info"
JSON_PATHS = (CREATE_PATH, QUERY_PATH, REFUND_PATH, INFO_PATH)

# What /api/pay/create's ``method`` may be (彩虹 V2); every one is answered with a jump to the cashier.
METHODS = ("web", "wap", "qrcode", "jsapi", "minipg")
REFUND_REFUSAL = (
    "不支持退款：本网关使用服务商的静态收款码收款，没有退款接口。请在收款码所属服务商的商户后台为付款人退款"
)

routes = web.RouteTableDef()


async def _verified(request: web.Request) -> tuple[dict[str, str], Verified]:
    params = await request_params(request)
    verified = await request.app[SIGNED].verify(params, sign_types=(RSA,), default=RSA)
    return params, verified


@routes.route("GET", SUBMIT_PATH)
@routes.route("POST", SUBMIT_PATH)
async def submit(request: web.Request) -> web.StreamResponse:
    """Browser jump (V2 form of submit.php): place the order and send the payer to the cashier."""
    params = await request_params(request)
    order = await request.app[SIGNED].create(params, SUBMIT)
    raise web.HTTPFound(cashier_path(order.trade_no))


@routes.route("GET", CREATE_PATH)
@routes.route("POST", CREATE_PATH)
async def create(request: web.Request) -> web.StreamResponse:
    """Server-to-server create (V2 form of mapi.php)."""
    params = await request_params(request)
    method = params.get("method", "")
    if method and method not in METHODS:
        raise IntakeError(f"不支持的接口类型(method)，可选：{'、'.join(METHODS)}")
    signed = request.app[SIGNED]
    order = await signed.create(params, MAPI)
    body = {
        "code": 0, "msg": "下单成功", "trade_no": order.trade_no, "pay_type": "jump",
        "pay_info": request.app[SETTINGS].base_url + cashier_path(order.trade_no),
    }
    return web.json_response(await signed.answer(RSA, body))


@routes.route("GET", QUERY_PATH)
@routes.route("POST", QUERY_PATH)
async def query(request: web.Request) -> web.StreamResponse:
    """One order of the merchant by ``trade_no`` or ``out_trade_no``."""
    params, verified = await _verified(request)
    order = await merchant_order(request, verified.merchant, params)
    signed = request.app[SIGNED]
    await signed.claim(verified)
    body = {"code": 0, "msg": "查询订单成功", **epay_order(order), "refundmoney": "0.00", "clientip": order.clientip}
    return web.json_response(await signed.answer(RSA, body))


@routes.route("GET", INFO_PATH)
@routes.route("POST", INFO_PATH)
async def merchant_info(request: web.Request) -> web.StreamResponse:
    """The merchant's status and order counts (paid orders in all, today and yesterday, China time)."""
    params, verified = await _verified(request)
    signed = request.app[SIGNED]
    await signed.claim(verified)
    body = await _info(request, verified.merchant, params)
    return web.json_response(await signed.answer(RSA, body))


async def _info(request: web.Request, merchant: Merchant, params: dict[str, str]) -> dict[str, Any]:
    totals = await epay_routes.merchant_summary(request, merchant, params)
    return {
        "code": 0, "msg": "查询商户成功", "pid": merchant.pid, "name": merchant.name,
        "status": int(merchant.enabled), "orders": totals["orders"], "order_today": totals["order_today"],
        "order_lastday": totals["order_lastday"],
    }


@routes.route("GET", REFUND_PATH)
@routes.route("POST", REFUND_PATH)
async def refund(request: web.Request) -> web.StreamResponse:
    """Refused, after the usual checks: a static QR code has no refund API. Nothing is written."""
    await _verified(request)
    raise IntakeError(REFUND_REFUSAL)


async def _signed_requests(app: web.Application) -> AsyncIterator[None]:
    app[SIGNED] = SignedRequests(app[DB], app[INTAKE], app[PLATFORM_KEY])
    yield


def setup(app: web.Application) -> None:
    """Register the V2 routes and the signed-request service (after the intake service it builds on)."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(_signed_requests)
