"""``order`` and ``notify`` commands."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli.context import CliContext
from agent.cli.output import emit, fail
from agent.matching import OrderStateError, close_order, mark_paid
from agent.money import format_yuan
from agent.notify.outbox import attempts_of, requeue
from agent.orders import Order, OrderStatus, get_order
from agent.orders.queries import latest_orders
from agent.timefmt import format_local


def register(commands: Any) -> None:
    order = commands.add_parser("order", help="orders").add_subparsers(dest="action", required=True)
    listing = order.add_parser("list", help="recent orders, newest first")
    listing.add_argument("--status", choices=[s.value for s in OrderStatus])
    listing.add_argument("--pid", type=int)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=order_list)
    show = order.add_parser("show", help="one order with its payment and notify attempts")
    show.add_argument("trade_no")
    show.set_defaults(handler=order_show)
    mark = order.add_parser("mark-paid", help="补单: confirm an order by hand (audited; a reason is required)")
    mark.add_argument("trade_no")
    mark.add_argument("--reason", required=True)
    mark.add_argument("--provider-trade-no", help="the provider's trade number, when known")
    mark.set_defaults(handler=order_mark_paid)
    close = order.add_parser("close", help="close a pending order and free its amount slot (audited)")
    close.add_argument("trade_no")
    close.add_argument("--reason", default="")
    close.set_defaults(handler=order_close)

    notify = commands.add_parser("notify", help="merchant notifies").add_subparsers(dest="action", required=True)
    resend = notify.add_parser("resend", help="send a paid order's notify again now, with a fresh retry schedule")
    resend.add_argument("trade_no")
    resend.set_defaults(handler=notify_resend)


def _summary(order: Order) -> dict[str, Any]:
    return {
        "trade_no": order.trade_no,
        "pid": order.pid,
        "out_trade_no": order.out_trade_no,
        "type": order.type,
        "money": format_yuan(order.money_fen),
        "pay_amount": format_yuan(order.pay_amount_fen),
        "status": order.status.value,
        "created": format_local(order.created_at),
        "paid": format_local(order.paid_at),
    }


async def order_list(ctx: CliContext, args: argparse.Namespace) -> int:
    orders = await latest_orders(ctx.db, status=args.status or None, pid=args.pid or None, limit=max(1, min(args.limit, 1000)))
    emit([_summary(order) for order in orders], as_json=args.json)
    return 0


async def order_show(ctx: CliContext, args: argparse.Namespace) -> int:
    order = await get_order(ctx.db, args.trade_no)
    if order is None:
        return fail(f"订单 {args.trade_no} 不存在")
    attempts = await attempts_of(ctx.db, order.trade_no)
    detail = {
        **_summary(order),
        "name": order.name,
        "code_id": order.code_id,
        "account_id": order.account_id,
        "expires": format_local(order.expires_at),
        "provider_trade_no": order.provider_trade_no,
        "notify_url": order.notify_url,
        "return_url": order.return_url,
        "notify_attempts": [
            {"at": format_local(a.attempted_at), "http_status": a.http_status, "outcome": a.outcome,
             "body": a.body_excerpt}
            for a in attempts
        ],
    }
    emit(detail, as_json=args.json)
    return 0


async def order_mark_paid(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        order = await mark_paid(
            ctx.db, args.trade_no, actor="cli", reason=args.reason, provider_trade_no=args.provider_trade_no
        )
    except (OrderStateError, ValueError) as exc:
        return fail(str(exc))
    emit(_summary(order), as_json=args.json)
    return 0


async def order_close(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        order = await close_order(ctx.db, args.trade_no, actor="cli", reason=args.reason)
    except OrderStateError as exc:
        return fail(str(exc))
    emit(_summary(order), as_json=args.json)
    return 0


async def notify_resend(ctx: CliContext, args: argparse.Namespace) -> int:
    """Queue the resend in the database; a running server's notify worker sends it within a second."""
    try:
        await requeue(ctx.db, args.trade_no, actor="cli")
    except OrderStateError as exc:
        return fail(str(exc))
    emit({"trade_no": args.trade_no, "queued": True}, as_json=args.json)
    return 0
