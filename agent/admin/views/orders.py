"""订单: filtered list, detail with its timeline, and the manual actions 补单 / 重发通知 / 关闭."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from agent.admin import actions
from agent.admin.forms import FieldError, int_id, optional_yuan
from agent.admin.labels import ORDER_STATUS
from agent.admin.plumbing import actor, form_of, render, see_other
from agent.keys import DB, MERCHANTS
from agent.notify import NOTIFIER
from agent.orders import get_order
from agent.timefmt import SHANGHAI, to_ms
from agent.web.requests import INT64_MAX, BadRequest, parse_int

PAGE_SIZE = 50
MAX_PAGE = INT64_MAX // PAGE_SIZE  # the OFFSET must stay a 64-bit integer
DAY_MS = 86_400_000


@dataclass
class OrderFilter:
    """The list's WHERE clause built from the query string; a bad value is reported and ignored."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, clause: str, *params: Any) -> None:
        self.where.append(clause)
        self.params.extend(params)

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.where)}" if self.where else ""


def _date_ms(name: str, text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise FieldError(name, "日期格式应为 2026-01-31") from exc
    return to_ms(day)


def parse_filter(query: Any) -> OrderFilter:
    found = OrderFilter()
    steps = (
        ("status", lambda v: found.add("o.status = ?", v) if v in ORDER_STATUS else _bad("status", "未知状态")),
        ("pid", lambda v: found.add("o.pid = ?", int_id("pid", v, "商户"))),
        ("date_from", lambda v: found.add("o.created_at >= ?", _date_ms("date_from", v))),
        ("date_to", lambda v: found.add("o.created_at < ?", _date_ms("date_to", v) + DAY_MS)),
        ("amount", lambda v: found.add("(o.money_fen = ? OR o.pay_amount_fen = ?)", *[optional_yuan("amount", v)] * 2)),
        ("q", lambda v: found.add("(o.trade_no = ? OR o.out_trade_no = ? OR o.provider_trade_no = ?)", v, v, v)),
        ("notify", lambda v: found.add(
            "o.trade_no IN (SELECT trade_no FROM notify_jobs WHERE status = ?)", v
        ) if v in ("pending", "failed") else _bad("notify", "未知通知状态")),
    )
    for name, apply in steps:
        value = str(query.get(name, "")).strip()
        if not value:
            continue
        try:
            apply(value)
        except FieldError as exc:
            found.errors[exc.field] = exc.message
    return found


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


async def orders_page(request: web.Request) -> web.Response:
    db = request.config_dict[DB]
    found = parse_filter(request.query)
    page = _page_number(request.query.get("page", ""))
    total = await db.fetchval(f"SELECT count(*) FROM orders o {found.sql}", found.params)
    rows = await db.fetchall(
        "SELECT o.trade_no, o.out_trade_no, o.pid, o.name, o.money_fen, o.pay_amount_fen, o.status, o.type, "
        "o.created_at, o.paid_at, n.status AS notify_status, n.attempts FROM orders o "
        f"LEFT JOIN notify_jobs n ON n.trade_no = o.trade_no {found.sql} "
        "ORDER BY o.created_at DESC LIMIT ? OFFSET ?",
        [*found.params, PAGE_SIZE, (page - 1) * PAGE_SIZE],
    )
    merchants = await request.config_dict[MERCHANTS].list()
    query = {k: v for k, v in request.query.items() if k != "page"}
    return render(request, "orders.html", {
        "orders": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "query": query, "errors": found.errors,
        "merchant_options": [("", "全部商户")] + [(m.pid, f"{m.pid} {m.name}") for m in merchants],
        "status_options": [("", "全部状态"), *ORDER_STATUS.items()],
    }, status=400 if found.errors else 200)


async def _timeline(request: web.Request, trade_no: str) -> dict[str, Any]:
    db = request.config_dict[DB]
    order = await get_order(db, trade_no)
    if order is None:
        raise web.HTTPNotFound(text="订单不存在")
    code = await db.fetchone(
        "SELECT c.id, c.label, c.terminal_id, a.id AS account_id, a.name AS account FROM codes c "
        "JOIN accounts a ON a.id = c.account_id WHERE c.id = ?", (order.code_id,),
    )
    return {
        "order": order, "code": code,
        "merchant": await request.config_dict[MERCHANTS].get(order.pid),
        "transaction": await db.fetchone(
            "SELECT id, provider_trade_no, amount_fen, channel, paid_at, terminal_id, seen_at "
            "FROM provider_transactions WHERE order_trade_no = ?", (trade_no,),
        ),
        "strays": await db.fetchall(
            "SELECT id, provider_trade_no, amount_fen, channel, paid_at, status FROM provider_transactions "
            "WHERE duplicate_of = ? ORDER BY paid_at", (trade_no,),
        ),
        "job": await db.fetchone(
            "SELECT status, attempts, next_attempt_at, last_error FROM notify_jobs WHERE trade_no = ?", (trade_no,)
        ),
        "attempts": await db.fetchall(
            "SELECT attempted_at, url, http_status, body_excerpt, outcome, duration_ms FROM notify_attempts "
            "WHERE trade_no = ? ORDER BY attempted_at", (trade_no,),
        ),
        "audits": await db.fetchall(
            "SELECT at, actor, action, detail FROM audit_log WHERE target = ? ORDER BY at", (trade_no,)
        ),
    }


async def order_page(request: web.Request, *, error: str = "", errors: dict[str, str] | None = None) -> web.Response:
    context = await _timeline(request, request.match_info["trade_no"])
    context.update(done=request.query.get("done", ""), error=error, errors=errors or {})
    return render(request, "order.html", context, status=400 if error or errors else 200)


async def order_action(request: web.Request) -> web.StreamResponse:
    """补单 (mark_paid, reason required), 重发通知 (resend) or 关闭 (close)."""
    trade_no, action = request.match_info["trade_no"], request.match_info["action"]
    db = request.config_dict[DB]
    reason = form_of(request).get("reason")
    try:
        if action == "mark_paid":
            if not reason:
                return await order_page(request, errors={"reason": "请填写补单原因（将记录在审计日志中）"})
            await actions.mark_order_paid(db, trade_no, actor=actor(request), reason=reason)
        elif action == "resend":
            await actions.resend_notify(request.config_dict[NOTIFIER], trade_no, actor=actor(request))
        else:  # the route admits only mark_paid, resend and close
            await actions.close(db, trade_no, actor=actor(request), reason=reason)
    except actions.ActionRefused as exc:
        return await order_page(request, error=str(exc))
    return see_other(f"/admin/orders/{trade_no}?done={action}")
