"""Cashier HTTP handlers: the page, its status feed, the QR picture, the method choice and "I have paid".

Live status is polled (``GET /pay/{trade_no}/status`` every ~2 s) rather than pushed with SSE: a poll is one
indexed read, holds no connection open per payer on a small machine, survives any reverse proxy or mobile
network switch unchanged, and a 2 s delay is invisible next to how long a provider takes to show a payment.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.appkeys import DB, MERCHANTS
from agent.cashier.payer import (
    CHOOSABLE_METHODS,
    METHOD_LABELS,
    payer_status,
    remaining_seconds,
    return_redirect,
    status_document,
)
from agent.cashier.qr import code_picture
from agent.db import now_ms
from agent.epay_rsa import SIGN_TYPE as RSA_SIGN_TYPE
from agent.money import format_yuan
from agent.orders import Order, OrderStatus, get_order, transitions
from agent.platform_key import PLATFORM_KEY
from agent.polling import POLL_SCHEDULER
from agent.web.requests import BadRequest, read_form

routes = web.RouteTableDef()

log = structlog.get_logger(__name__)

TRADE_NO = re.compile(r"[0-9A-Za-z_-]{1,64}")

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# A picture opened directly must never run script, even an uploaded SVG.
_PICTURE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}
_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(f"cashier/{template}", request, context, status=status)
    response.headers.update(_PAGE_HEADERS)
    return response


async def _find_order(request: web.Request) -> Order | None:
    trade_no = request.match_info["trade_no"]
    if not TRADE_NO.fullmatch(trade_no):
        return None
    return await get_order(request.app[DB], trade_no)


async def _merchant_key_and_name(request: web.Request, order: Order) -> tuple[str, str]:
    merchant = await request.app[MERCHANTS].get(order.pid)
    if merchant is None:  # the schema's foreign key makes this impossible; fail loudly, not with a wrong page
        raise RuntimeError(f"order {order.trade_no} has no merchant")
    return merchant.key, merchant.name


async def _platform_key(request: web.Request, order: Order) -> rsa.RSAPrivateKey | None:
    """The platform private key when the order's return must be RSA-signed (epay V2), else None."""
    if order.sign_type != RSA_SIGN_TYPE or order.status is not OrderStatus.PAID:
        return None
    return await request.app[PLATFORM_KEY].private_key()


def _not_found_page(request: web.Request) -> web.Response:
    return _render(request, "not_found.html", {}, status=404)


def _not_found_json() -> web.Response:
    return web.json_response({"error": "订单不存在"}, status=404, headers=_JSON_HEADERS)


def _page_state(order: Order, now: int) -> str:
    """Which screen the page opens on: ``choose`` (pick a method first) or the payer status."""
    status = payer_status(order, now)
    if status is OrderStatus.PENDING and order.type is None:
        return "choose"
    return status.value


@routes.get("/pay/{trade_no}", name="cashier-page")
async def pay_page(request: web.Request) -> web.Response:
    order = await _find_order(request)
    if order is None:
        return _not_found_page(request)
    key, merchant_name = await _merchant_key_and_name(request, order)
    now = now_ms()
    trade_no = order.trade_no
    router = request.app.router
    context = {
        "order": order,
        "state": _page_state(order, now),
        "site_name": order.sitename or merchant_name,
        "pay_yuan": format_yuan(order.pay_amount_fen),
        "money_yuan": format_yuan(order.money_fen),
        "adjusted": order.pay_amount_fen != order.money_fen,
        "method_label": METHOD_LABELS.get(order.type or "", order.type or ""),
        "methods": [(method, METHOD_LABELS[method]) for method in CHOOSABLE_METHODS],
        "remaining": remaining_seconds(order, now),
        "redirect_url": return_redirect(order, key, await _platform_key(request, order)) or "",
        "qr_url": router["cashier-qr"].url_for(trade_no=trade_no),
        "status_url": router["cashier-status"].url_for(trade_no=trade_no),
        "check_url": router["cashier-check"].url_for(trade_no=trade_no),
        "method_url": router["cashier-method"].url_for(trade_no=trade_no),
    }
    return _render(request, "pay.html", context)


@routes.get("/pay/{trade_no}/status", name="cashier-status")
async def status(request: web.Request) -> web.Response:
    order = await _find_order(request)
    if order is None:
        return _not_found_json()
    key, _ = await _merchant_key_and_name(request, order)
    platform_key = await _platform_key(request, order)
    return web.json_response(status_document(order, key, now_ms(), platform_key), headers=_JSON_HEADERS)


@routes.post("/pay/{trade_no}/check", name="cashier-check")
async def check_now(request: web.Request) -> web.Response:
    """"我已支付": ask for an immediate read of the order's account. Repeating it only repeats the request."""
    order = await _find_order(request)
    if order is None:
        return _not_found_json()
    now = now_ms()
    if payer_status(order, now) is OrderStatus.PENDING:
        request.app[POLL_SCHEDULER].request_poll(order.account_id)
        log.info("cashier_check_requested", trade_no=order.trade_no, account_id=order.account_id)
    key, _ = await _merchant_key_and_name(request, order)
    platform_key = await _platform_key(request, order)
    return web.json_response(status_document(order, key, now, platform_key), headers=_JSON_HEADERS)


@routes.post("/pay/{trade_no}/method", name="cashier-method")
async def choose_method(request: web.Request) -> web.Response:
    """Set the order's type once, while it is pending and still untyped; later or repeated choices change nothing."""
    order = await _find_order(request)
    if order is None:
        return _not_found_page(request)
    try:
        method = (await read_form(request)).get("type")
    except BadRequest as exc:
        log.info("cashier_bad_request", trade_no=order.trade_no, reason=exc.message)
        return web.Response(status=exc.status, text=exc.message)
    if method not in CHOOSABLE_METHODS:
        return web.Response(status=400, text="不支持的支付方式")
    if await transitions.choose_method(request.app[DB], order.trade_no, method):
        log.info("cashier_method_chosen", trade_no=order.trade_no, type=method)
    raise web.HTTPSeeOther(request.app.router["cashier-page"].url_for(trade_no=order.trade_no))


@routes.get("/pay/{trade_no}/qr", name="cashier-qr")
async def qr_picture(request: web.Request) -> web.Response:
    """The QR, only while the order can be paid with it: an expired or closed order's code is not handed out."""
    order = await _find_order(request)
    if order is None or order.type is None or payer_status(order, now_ms()) is not OrderStatus.PENDING:
        return web.Response(status=404, text="二维码不可用", headers=_PICTURE_HEADERS)
    picture = await code_picture(request.app[DB], order.code_id)
    if picture is None:
        return web.Response(status=404, text="二维码不可用", headers=_PICTURE_HEADERS)
    return web.Response(body=picture.body, content_type=picture.content_type, headers=_PICTURE_HEADERS)
