"""Confirming orders in the database: automatic (matched provider transactions) and manual (补单, attach, close,
dismiss).

Every confirmation marks the order paid and writes its notify outbox row in the same write transaction,
so a paid order always gets a notify and a notify never goes out for an unpaid order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite
import structlog

from agent.audit import write_audit
from agent.db import Database, now_ms
from agent.errors import OrderStateError
from agent.matching.matcher import Candidate, Payment, match
from agent.ops import metrics
from agent.orders import UNKNOWN_CHANNEL_TYPE, Order, OrderStatus, get_order
from agent.providers.base import ProviderTransaction
from agent.timefmt import to_ms

log = structlog.get_logger(__name__)

CONFIRMABLE = (OrderStatus.PENDING, OrderStatus.EXPIRED)

_CANDIDATES_SQL = (
    "SELECT o.trade_no, o.account_id, CASE WHEN p.has_terminal THEN c.terminal_id END AS terminal_id, o.type, "
    "o.pay_amount_fen, o.created_at, o.expires_at "
    "FROM orders o JOIN codes c ON c.id = o.code_id JOIN accounts a ON a.id = o.account_id "
    "JOIN platforms p ON p.id = a.platform_id "
    "WHERE o.account_id = ? AND (o.status = 'pending' OR (o.status = 'expired' AND o.expires_at >= ?))"
)
_UNMATCHED_SQL = (
    "SELECT account_id, provider_trade_no AS trade_no, amount_fen, channel, paid_at, terminal_id, seen_at "
    "FROM provider_transactions WHERE account_id = ? AND status = 'unmatched' AND paid_at >= ?"
)
# Unmatched payments that landed on a quarantined slot, with the order whose slot it was. The slot's scope
# fits the payment as in the matcher: the account-wide scope, or the payment's own terminal (any terminal
# when the record names none). Only recently seen payments are looked at; quarantines never last longer.
_DUPLICATES_SQL = (
    "SELECT t.id, t.provider_trade_no, t.amount_fen, ("
    " SELECT q.trade_no FROM amount_quarantine q"
    " WHERE q.pay_amount_fen = t.amount_fen AND q.until >= t.seen_at AND (q.scope = 'a' || t.account_id"
    "  OR (substr(q.scope, 1, length(t.account_id) + 3) = 'a' || t.account_id || ':t'"
    "   AND (t.terminal_id IS NULL OR q.scope = 'a' || t.account_id || ':t' || t.terminal_id)))"
    " ORDER BY q.until DESC LIMIT 1) AS duplicate_of "
    "FROM provider_transactions t INDEXED BY provider_transactions_unflagged "
    "WHERE t.account_id = ? AND t.status = 'unmatched' AND t.duplicate_of IS NULL AND t.seen_at >= ?"
)
_DUPLICATE_WINDOW_MS = 86_400_000  # the longest quarantine settings allow


@dataclass(frozen=True, slots=True)
class Confirmation:
    trade_no: str
    provider_trade_no: str | None
    paid_at: int


async def record_transactions(db: Database, account_id: int, transactions: Sequence[ProviderTransaction]) -> int:
    """Store fetched transactions as 'unmatched' unless already known; returns how many were new.

    UNIQUE(account_id, provider_trade_no) makes re-reading the same records a no-op.
    """
    if not transactions:
        return 0
    seen_at = now_ms()
    rows = [
        (account_id, tx.trade_no, tx.amount_fen, tx.channel.value, to_ms(tx.paid_at), tx.terminal_id,
         json.dumps(tx.raw, ensure_ascii=False, sort_keys=True, default=str), seen_at)
        for tx in transactions
    ]
    async with db.transaction() as conn:
        before = conn.total_changes
        await conn.executemany(
            "INSERT OR IGNORE INTO provider_transactions (account_id, provider_trade_no, amount_fen, channel, "
            "paid_at, terminal_id, raw, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return conn.total_changes - before


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
    rows = await db.fetchall(_CANDIDATES_SQL, (account_id, now - grace_ms))
    candidates = [Candidate(**dict(row)) for row in rows]
    if not candidates:
        return []
    oldest = min(order.created_at for order in candidates) - skew_ms
    payments = [Payment(**dict(row)) for row in await db.fetchall(_UNMATCHED_SQL, (account_id, oldest))]
    confirmed = []
    for assignment in match(payments, candidates, skew_ms):
        payment, order = assignment.payment, assignment.order
        try:
            async with db.transaction() as conn:
                await confirm_order(
                    conn, order.trade_no, paid_at=payment.paid_at, provider_trade_no=payment.trade_no,
                    channel=payment.channel,
                )
                await _link_transaction(conn, account_id, payment.trade_no, order.trade_no)
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
    rows = await db.fetchall(_DUPLICATES_SQL, (account_id, now - _DUPLICATE_WINDOW_MS))
    found = [row for row in rows if row["duplicate_of"] is not None]
    if not found:
        return 0
    async with db.transaction() as conn:
        await conn.executemany(
            "UPDATE provider_transactions SET duplicate_of = ? WHERE id = ? AND status = 'unmatched'",
            [(row["duplicate_of"], row["id"]) for row in found],
        )
    for row in found:
        log.warning("duplicate_payment", account_id=account_id, provider_trade_no=row["provider_trade_no"],
                    amount_fen=row["amount_fen"], duplicate_of=row["duplicate_of"])
        metrics.duplicate_payment_seen()
    return len(found)


async def confirm_order(
    conn: aiosqlite.Connection, trade_no: str, *, paid_at: int, provider_trade_no: str | None,
    channel: str | None = None,
) -> None:
    """Mark a pending or expired order paid and queue its notify; call inside ``db.transaction()``.

    An order nobody chose a method for takes the paying ``channel`` as its epay ``type`` (or, when no
    channel is known, the channel of the account's recorded payment ``provider_trade_no``, else
    ``UNKNOWN_CHANNEL_TYPE``): a paid order always has a type, which its notify and return must carry.
    Raises OrderStateError (the caller's transaction should then roll back) when the order is missing or
    not confirmable. The notify worker sends the queued notify on its next wake-up.
    """
    cursor = await conn.execute(
        "UPDATE orders SET status = 'paid', paid_at = ?, provider_trade_no = ?, type = coalesce(type, ?, ("
        " SELECT t.channel FROM provider_transactions t"
        " WHERE t.account_id = orders.account_id AND t.provider_trade_no = ?), ?) "
        "WHERE trade_no = ? AND status IN ('pending', 'expired')",
        (paid_at, provider_trade_no, channel, provider_trade_no, UNKNOWN_CHANNEL_TYPE, trade_no),
    )
    if cursor.rowcount == 0:
        raise OrderStateError(await _why_not(conn, trade_no, CONFIRMABLE))
    now = now_ms()
    await conn.execute(
        "INSERT INTO notify_jobs (trade_no, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (trade_no, now, now, now),
    )


async def mark_paid(
    db: Database, trade_no: str, *, actor: str, reason: str, provider_trade_no: str | None = None,
    paid_at: int | None = None,
) -> Order:
    """补单: confirm an order by hand (the payer proved payment some other way); audited, no transaction row.

    ``paid_at`` defaults to now. An order without a type takes the channel of the account's recorded payment
    ``provider_trade_no`` when there is one, else ``UNKNOWN_CHANNEL_TYPE`` (alipay).
    Raises OrderStateError unless the order is pending or expired.
    """
    if not reason.strip():
        raise ValueError("a reason is required to mark an order paid by hand")
    async with db.transaction() as conn:
        await confirm_order(
            conn, trade_no, paid_at=now_ms() if paid_at is None else paid_at, provider_trade_no=provider_trade_no
        )
        await write_audit(
            conn, actor, "order.mark_paid", trade_no, {"reason": reason, "provider_trade_no": provider_trade_no}
        )
    return await _order(db, trade_no)


async def attach_transaction(db: Database, transaction_id: int, trade_no: str, *, actor: str, reason: str) -> Order:
    """Confirm an order with an unmatched provider transaction a person picked (e.g. a wrong amount paid).

    The order takes the transaction's paid_at and trade no; the rule checks of the matcher are not applied
    (that is the point), but both amounts are kept in the audit row. Raises OrderStateError when the
    transaction is already matched or the order is not pending/expired; LookupError when the id is unknown.
    """
    row = await db.fetchone(
        "SELECT account_id, provider_trade_no, amount_fen, channel, paid_at FROM provider_transactions WHERE id = ?",
        (transaction_id,),
    )
    if row is None:
        raise LookupError(f"provider transaction {transaction_id} not found")
    async with db.transaction() as conn:
        await confirm_order(
            conn, trade_no, paid_at=row["paid_at"], provider_trade_no=row["provider_trade_no"],
            channel=row["channel"],
        )
        await _link_transaction(conn, row["account_id"], row["provider_trade_no"], trade_no)
        await write_audit(
            conn, actor, "order.attach_transaction", trade_no,
            {"reason": reason, "transaction_id": transaction_id, "account_id": row["account_id"],
             "provider_trade_no": row["provider_trade_no"], "amount_fen": row["amount_fen"]},
        )
    return await _order(db, trade_no)


async def dismiss_transaction(db: Database, transaction_id: int, *, actor: str, reason: str) -> None:
    """Mark an unmatched provider transaction reviewed and belonging to no order, so it leaves the to-do list.

    It stays recorded (and can still be attached later). Audited. Raises LookupError when the id is unknown,
    OrderStateError when it is matched or was already dismissed.
    """
    async with db.transaction() as conn:
        async with conn.execute(
            "UPDATE provider_transactions SET status = 'dismissed' WHERE id = ? AND status = 'unmatched' "
            "RETURNING account_id, provider_trade_no, amount_fen",
            (transaction_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            async with conn.execute("SELECT status FROM provider_transactions WHERE id = ?", (transaction_id,)) as cursor:
                found = await cursor.fetchone()
            if found is None:
                raise LookupError(f"provider transaction {transaction_id} not found")
            raise OrderStateError(f"provider transaction {transaction_id} is {found[0]}, not unmatched")
        await write_audit(
            conn, actor, "transaction.dismiss", str(transaction_id),
            {"reason": reason, "account_id": row[0], "provider_trade_no": row[1], "amount_fen": row[2]},
        )


async def close_order(db: Database, trade_no: str, *, actor: str, reason: str = "") -> Order:
    """Close a pending order (the payer gave up, the merchant cancelled); frees its amount slot. Audited."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE orders SET status = 'closed' WHERE trade_no = ? AND status = 'pending'", (trade_no,)
        )
        if cursor.rowcount == 0:
            raise OrderStateError(await _why_not(conn, trade_no, (OrderStatus.PENDING,)))
        await write_audit(conn, actor, "order.close", trade_no, {"reason": reason})
    return await _order(db, trade_no)


async def expire_overdue(db: Database, *, skew_ms: int, now: int | None = None) -> int:
    """Mark pending orders past ``expires_at + skew`` expired (they stay matchable during the grace time)."""
    cutoff = (now_ms() if now is None else now) - skew_ms
    # Read first: most sweeps find nothing, and then need no write transaction.
    if await db.fetchval("SELECT 1 FROM orders WHERE status = 'pending' AND expires_at < ? LIMIT 1", (cutoff,)) is None:
        return 0
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE orders SET status = 'expired' WHERE status = 'pending' AND expires_at < ?", (cutoff,)
        )
        return cursor.rowcount


async def _link_transaction(
    conn: aiosqlite.Connection, account_id: int, provider_trade_no: str, trade_no: str
) -> None:
    cursor = await conn.execute(
        "UPDATE provider_transactions SET status = 'matched', order_trade_no = ? "
        "WHERE account_id = ? AND provider_trade_no = ? AND status != 'matched'",
        (trade_no, account_id, provider_trade_no),
    )
    if cursor.rowcount == 0:
        raise OrderStateError(f"provider transaction {provider_trade_no} is already matched")


async def _why_not(conn: aiosqlite.Connection, trade_no: str, allowed: Sequence[OrderStatus]) -> str:
    async with conn.execute("SELECT status FROM orders WHERE trade_no = ?", (trade_no,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return f"order {trade_no} not found"
    return f"order {trade_no} is {row[0]}, not {' or '.join(s.value for s in allowed)}"


async def _order(db: Database, trade_no: str) -> Order:
    order = await get_order(db, trade_no)
    assert order is not None  # just written in a committed transaction
    return order
