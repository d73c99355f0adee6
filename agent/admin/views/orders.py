"""订单: filtered list, detail with its timeline, and the manual actions 补单 / 重发通知 / 关闭."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from agent.admin import actions
from agent.admin.forms import FieldError, int_id, optional_yuan
from agent.admin.plumbing import actor, form_of, render, see_other
from agent.appkeys import DB, MERCHANTS
from agent.audit import audit_trail
from agent.codes import code_place
from agent.labels import ORDER_STATUS
from agent.notify import NOTIFIER
from agent.notify.outbox import JobStatus, attempts_of, notify_job
from agent.orders import get_order
from agent.orders.queries import OrderSearch, search_orders
from agent.provider_transactions import duplicates_of_order, payment_of_order
from agent.timefmt import DAY_MS, SHANGHAI, to_ms
from agent.web.requests import INT64_MAX, BadRequest, parse_int

routes = web.RouteTableDef()

PAGE_SIZE = 50
MAX_PAGE = INT64_MAX // PAGE_SIZE  # the OFFSET must stay a 64-bit integer


def _date_ms(name: str, text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise FieldError(name, "日期格式应为 2026-01-31") from exc
    return to_ms(day)


def _status(value: str) -> str:
    if value not in ORDER_STATUS:
        _bad("status", "未知状态")
    return value


def _notify_status(value: str) -> str:
    if value not in (JobStatus.PENDING, JobStatus.FAILED):
        _bad("notify", "未知通知状态")
    return value


_FILTERS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("status", "status", _status),
    ("pid", "pid", lambda v: int_id("pid", v, "商户")),
    ("date_from", "created_from", lambda v: _date_ms("date_from", v)),
    ("date_to", "created_before", lambda v: _date_ms("date_to", v) + DAY_MS),
    ("amount", "amount_fen", lambda v: optional_yuan("amount", v)),
    ("q", "number", lambda v: v),
    ("notify", "notify_status", _notify_status),
)


def parse_filter(query: Any) -> tuple[OrderSearch, dict[str, str]]:
    """The list's filters from the query string; a bad value is reported (field -> message) and ignored."""
    wanted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, attribute, parse in _FILTERS:
        value = str(query.get(name, "")).strip()
        if not value:
            continue
        try:
            wanted[attribute] = parse(value)
        except FieldError as exc:
            errors[exc.field] = exc.message
    return OrderSearch(**wanted), errors


def _bad(name: str, message: str) -> None:
    raise FieldError(name, message)


def _page_number(text: str) -> int:
    """The list page asked for; one no list can have (not a number, beyond any offset SQLite takes) is 404."""
    if not text:
        return 1
    try:
        return parse_int(text, field="page", low=1, high=MAX_PAGE)
    except BadRequest as exc:
        raise web.HTTPNotFound(text="页面不存在") from exc


@routes.get("/orders")
async def orders_page(request: web.Request) -> web.Response:
    search, errors = parse_filter(request.query)
    page = _page_number(request.query.get("page", ""))
    total, rows = await search_orders(
        request.config_dict[DB], search, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    merchants = await request.config_dict[MERCHANTS].list()
    query = {k: v for k, v in request.query.items() if k != "page"}
    return render(request, "orders.html", {
        "orders": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "query": query, "errors": errors,
        "merchant_options": [("", "全部商户")] + [(m.pid, f"{m.name}（{m.pid}）") for m in merchants],
        "merchant_names": {m.pid: m.name for m in merchants},
        "status_options": [("", "全部状态"), *ORDER_STATUS.items()],
    }, status=400 if errors else 200)


async def _timeline(request: web.Request, trade_no: str) -> dict[str, Any]:
    db = request.config_dict[DB]
    order = await get_order(db, trade_no)
    if order is None:
        raise web.HTTPNotFound(text="订单不存在")
    return {
        "order": order, "code": await code_place(db, order.code_id),
        "merchant": await request.config_dict[MERCHANTS].get(order.pid),
        "transaction": await payment_of_order(db, trade_no),
        "strays": await duplicates_of_order(db, trade_no),
        "job": await notify_job(db, trade_no),
        "attempts": await attempts_of(db, trade_no),
        "audits": await audit_trail(db, trade_no),
    }


@routes.get("/orders/{trade_no}")
async def order_page(request: web.Request) -> web.Response:
    return await _order_page(request)


async def _order_page(request: web.Request, *, error: str = "", errors: dict[str, str] | None = None) -> web.Response:
    context = await _timeline(request, request.match_info["trade_no"])
    context.update(done=request.query.get("done", ""), error=error, errors=errors or {})
    return render(request, "order.html", context, status=400 if error or errors else 200)


@routes.post("/orders/{trade_no}/{action:mark_paid|resend|close}")
async def order_action(request: web.Request) -> web.StreamResponse:
    """补单 (mark_paid, reason required), 重发通知 (resend) or 关闭 (close)."""
    trade_no, action = request.match_info["trade_no"], request.match_info["action"]
    db = request.config_dict[DB]
    reason = form_of(request).get("reason")
    try:
        if action == "mark_paid":
            if not reason:
                return await _order_page(request, errors={"reason": "请填写补单原因（将记录在审计日志中）"})
            await actions.mark_order_paid(db, trade_no, actor=actor(request), reason=reason)
        elif action == "resend":
            await actions.resend_notify(request.config_dict[NOTIFIER], trade_no, actor=actor(request))
        else:  # the route admits only mark_paid, resend and close
            await actions.close(db, trade_no, actor=actor(request), reason=reason)
    except actions.ActionRefused as exc:
        return await _order_page(request, error=str(exc))
    return see_other(f"/admin/orders/{trade_no}?done={action}")
