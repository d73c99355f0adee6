"""Confirming orders from provider payments: automatic (the matcher's assignments) and by a person (attach).

Every confirmation marks the order paid (``agent.orders.transitions``), links the payment
(``agent.provider_transactions``) and queues the notify in one write transaction, so a paid order always gets
a notify and a notify never goes out for an unpaid order. The by-hand actions that need no payment (补单,
close) and dismissing a payment live with their tables' owners and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from agent import provider_transactions as payments
from agent.audit import write_audit
from agent.db import Database, now_ms
from agent.db.rows import records
from agent.errors import NotFound, OrderStateError
from agent.matching.matcher import Candidate, Payment, match
from agent.ops import metrics
from agent.orders import Order, live
from agent.orders.transitions import (
    CONFIRMABLE,
    close_order,
    committed_order,
    confirm_order,
    expire_overdue,
    mark_paid,
)
from agent.provider_transactions import dismiss_transaction, record_transactions

__all__ = [
    "CONFIRMABLE",
    "Confirmation",
    "OrderStateError",
    "attach_transaction",
    "close_order",
    "confirm_order",
    "dismiss_transaction",
    "expire_overdue",
    "flag_duplicates",
    "mark_paid",
    "match_account",
    "record_transactions",
]

log = structlog.get_logger(__name__)

_DUPLICATE_WINDOW_MS = 86_400_000  # the longest quarantine settings allow


@dataclass(frozen=True, slots=True)
class Confirmation:
    trade_no: str
    provider_trade_no: str | None
    paid_at: int


async def match_account(
    db: Database, account_id: int, *, skew_ms: int, grace_ms: int, now: int | None = None
) -> list[Confirmation]:
    """Run the matcher over the account's unmatched transactions and confirm every assignment.

    Candidates are the account's pending orders and those expired less than ``grace_ms`` ago. Each
    assignment commits on its own; one that lost a race (order closed or paid meanwhile) is skipped and
    its transaction stays unmatched.
    """
    now = now_ms() if now is None else now
    confirmed = await _confirm_matches(db, account_id, skew_ms=skew_ms, grace_ms=grace_ms, now=now)
    await flag_duplicates(db, account_id, now=now)
    return confirmed


async def _confirm_matches(
    db: Database, account_id: int, *, skew_ms: int, grace_ms: int, now: int
) -> list[Confirmation]:
    candidates = records(Candidate, await live.match_candidates(db, account_id, now - grace_ms))
    if not candidates:
        return []
    oldest = min(order.created_at for order in candidates) - skew_ms
    unmatched = records(Payment, await payments.unmatched_since(db, account_id, oldest))
    confirmed = []
    for assignment in match(unmatched, candidates, skew_ms):
        payment, order = assignment.payment, assignment.order
        try:
            async with db.transaction() as conn:
                await confirm_order(
                    conn, order.trade_no, paid_at=payment.paid_at, provider_trade_no=payment.trade_no,
                    channel=payment.channel,
                )
                await payments.link(conn, account_id, payment.trade_no, order.trade_no)
        except OrderStateError as exc:
            log.info("match_skipped", trade_no=order.trade_no, provider_trade_no=payment.trade_no, why=str(exc))
            continue
        log.info("order_confirmed", trade_no=order.trade_no, provider_trade_no=payment.trade_no)
        metrics.order_confirmed(order.created_at, now_ms())
        confirmed.append(Confirmation(order.trade_no, payment.trade_no, payment.paid_at))
    return confirmed


async def flag_duplicates(db: Database, account_id: int, *, now: int | None = None) -> int:
    """Name the order whose quarantined slot each new unmatched payment landed on ("疑似重复付款").

    Run after matching: such a payment confirmed nothing (no order may take a quarantined slot), and the
    admin console shows it beside that order. Returns how many payments were flagged.
    """
    now = now_ms() if now is None else now
    found = await payments.duplicates(db, account_id, now - _DUPLICATE_WINDOW_MS)
    if not found:
        return 0
    await payments.flag_duplicates(db, found)
    for duplicate in found:
        log.warning("duplicate_payment", account_id=account_id, provider_trade_no=duplicate.provider_trade_no,
                    amount_fen=duplicate.amount_fen, duplicate_of=duplicate.duplicate_of)
        metrics.duplicate_payment_seen()
    return len(found)


async def attach_transaction(db: Database, transaction_id: int, trade_no: str, *, actor: str, reason: str) -> Order:
    """Confirm an order with an unmatched provider transaction a person picked (e.g. a wrong amount paid).

    The order takes the transaction's paid_at and trade no; the rule checks of the matcher are not applied
    (that is the point), but both amounts are kept in the audit row. Raises OrderStateError when the
    transaction is already matched or the order is not pending/expired; NotFound (a LookupError) when the id is
    unknown.
    """
    payment = await payments.get_payment(db, transaction_id)
    if payment is None:
        raise NotFound(f"收款流水 {transaction_id} 不存在")
    async with db.transaction() as conn:
        await confirm_order(
            conn, trade_no, paid_at=payment.paid_at, provider_trade_no=payment.provider_trade_no,
            channel=payment.channel,
        )
        await payments.link(conn, payment.account_id, payment.provider_trade_no, trade_no)
        await write_audit(
            conn, actor, "order.attach_transaction", trade_no,
            {"reason": reason, "transaction_id": transaction_id, "account_id": payment.account_id,
             "provider_trade_no": payment.provider_trade_no, "amount_fen": payment.amount_fen},
        )
    return await committed_order(db, trade_no)
