"""``transaction`` commands: review provider payments that matched no order, then attach or dismiss them."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli.context import CliContext
from agent.cli.output import emit, fail
from agent.db import Database
from agent.matching import OrderStateError, attach_transaction, dismiss_transaction
from agent.money import format_yuan
from agent.provider_transactions import StoredPayment, get_payment, latest_payments
from agent.timefmt import format_local

STATUSES = ("unmatched", "matched", "dismissed")

def register(commands: Any) -> None:
    transaction = commands.add_parser("transaction", help="provider payments read from the back offices").add_subparsers(
        dest="action", required=True
    )
    listing = transaction.add_parser("list", help="payments read from the providers, newest first")
    listing.add_argument("--status", choices=STATUSES, help="e.g. 'unmatched': the ones waiting for a person")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=transaction_list)
    dismiss = transaction.add_parser("dismiss", help="mark an unmatched payment as belonging to no order (audited)")
    dismiss.add_argument("id", type=int)
    dismiss.add_argument("--reason", required=True)
    dismiss.set_defaults(handler=transaction_dismiss)
    attach = transaction.add_parser(
        "attach", help="confirm an order with an unmatched payment: it is marked paid and notified (audited)"
    )
    attach.add_argument("id", type=int)
    attach.add_argument("trade_no")
    attach.add_argument("--reason", required=True)
    attach.set_defaults(handler=transaction_attach)


def _row(payment: StoredPayment) -> dict[str, Any]:
    return {
        "id": payment.id, "account_id": payment.account_id, "provider_trade_no": payment.provider_trade_no,
        "amount": format_yuan(payment.amount_fen), "channel": payment.channel, "paid": format_local(payment.paid_at),
        "terminal_id": payment.terminal_id, "status": payment.status, "order_trade_no": payment.order_trade_no,
    }


async def _show(db: Database, transaction_id: int) -> dict[str, Any]:
    payment = await get_payment(db, transaction_id)
    assert payment is not None  # just changed in a committed transaction
    return _row(payment)


async def transaction_list(ctx: CliContext, args: argparse.Namespace) -> int:
    payments = await latest_payments(ctx.db, status=args.status, limit=max(1, min(args.limit, 1000)))
    emit([_row(payment) for payment in payments], as_json=args.json)
    return 0


async def transaction_dismiss(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        await dismiss_transaction(ctx.db, args.id, actor="cli", reason=args.reason)
    except (OrderStateError, LookupError) as exc:
        return fail(str(exc))
    emit(await _show(ctx.db, args.id), as_json=args.json)
    return 0


async def transaction_attach(ctx: CliContext, args: argparse.Namespace) -> int:
    """The notify is queued in the database; a running server's worker sends it within a second."""
    try:
        await attach_transaction(ctx.db, args.id, args.trade_no, actor="cli", reason=args.reason)
    except (OrderStateError, LookupError) as exc:
        return fail(str(exc))
    emit(await _show(ctx.db, args.id), as_json=args.json)
    return 0
