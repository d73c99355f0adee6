"""The ``provider_transactions`` table's owner: payments read from the back offices, and what became of them.

A payment is stored ``unmatched`` when first read, becomes ``matched`` when it confirms an order (``link``,
inside the confirming transaction) or ``dismissed`` when a person says it belongs to no order. One that landed
on a quarantined slot gets ``duplicate_of``: the order whose slot it was (疑似重复付款).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from agent.audit import write_audit
from agent.db import Database, now_ms
from agent.db.rows import record, records
from agent.errors import NotFound, OrderStateError
from agent.labels import TRANSACTION_STATUS
from agent.orders import queries as order_queries
from agent.providers.base import ProviderTransaction
from agent.timefmt import to_ms

_STORED_COLUMNS = (
    "id, account_id, provider_trade_no, amount_fen, channel, paid_at, terminal_id, status, order_trade_no, "
    "seen_at, duplicate_of"
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


@dataclass(frozen=True, slots=True)
class StoredPayment:
    """A provider payment as stored."""

    id: int
    account_id: int
    provider_trade_no: str
    amount_fen: int
    channel: str
    paid_at: int
    terminal_id: str | None
    status: str  # unmatched, matched or dismissed
    order_trade_no: str | None
    seen_at: int
    duplicate_of: str | None


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An unmatched payment on a quarantined slot, and the order whose slot it was."""

    id: int
    provider_trade_no: str
    amount_fen: int
    duplicate_of: str


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """An unmatched payment for the admin's review, with its account's name and the duplicated order's status."""

    id: int
    account_id: int
    account: str
    provider_trade_no: str
    amount_fen: int
    channel: str
    paid_at: int
    terminal_id: str | None
    seen_at: int
    duplicate_of: str | None
    duplicate_status: str | None


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


async def unmatched_since(db: Database, account_id: int, since: int) -> list[aiosqlite.Row]:
    """The account's unmatched payments paid at or after ``since``, with the matcher's column names."""
    return await db.fetchall(
        "SELECT account_id, provider_trade_no AS trade_no, amount_fen, channel, paid_at, terminal_id, seen_at "
        "FROM provider_transactions WHERE account_id = ? AND status = 'unmatched' AND paid_at >= ?",
        (account_id, since),
    )


async def link(conn: aiosqlite.Connection, account_id: int, provider_trade_no: str, trade_no: str) -> None:
    """Mark the payment matched to ``trade_no``, inside the transaction that confirms the order."""
    cursor = await conn.execute(
        "UPDATE provider_transactions SET status = 'matched', order_trade_no = ? "
        "WHERE account_id = ? AND provider_trade_no = ? AND status != 'matched'",
        (trade_no, account_id, provider_trade_no),
    )
    if cursor.rowcount == 0:
        raise OrderStateError(f"收款流水（流水号 {provider_trade_no}）已匹配到订单，不能重复使用")


async def duplicates(db: Database, account_id: int, seen_since: int) -> list[Duplicate]:
    """Unflagged unmatched payments seen since ``seen_since`` that landed on a quarantined slot."""
    rows = await db.fetchall(_DUPLICATES_SQL, (account_id, seen_since))
    return records(Duplicate, [row for row in rows if row["duplicate_of"] is not None])


async def flag_duplicates(db: Database, found: Sequence[Duplicate]) -> None:
    async with db.transaction() as conn:
        await conn.executemany(
            "UPDATE provider_transactions SET duplicate_of = ? WHERE id = ? AND status = 'unmatched'",
            [(d.duplicate_of, d.id) for d in found],
        )


async def get_payment(db: Database, transaction_id: int) -> StoredPayment | None:
    row = await db.fetchone(f"SELECT {_STORED_COLUMNS} FROM provider_transactions WHERE id = ?", (transaction_id,))
    return None if row is None else record(StoredPayment, row)


async def latest_payments(db: Database, *, limit: int, status: str | None = None) -> list[StoredPayment]:
    """Payments newest first, of one status when given."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    rows = await db.fetchall(
        f"SELECT {_STORED_COLUMNS} FROM provider_transactions {where} ORDER BY paid_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    return records(StoredPayment, rows)


async def payment_of_order(db: Database, trade_no: str) -> StoredPayment | None:
    """The payment that confirmed the order, if one did."""
    row = await db.fetchone(
        f"SELECT {_STORED_COLUMNS} FROM provider_transactions WHERE order_trade_no = ?", (trade_no,)
    )
    return None if row is None else record(StoredPayment, row)


async def duplicates_of_order(db: Database, trade_no: str) -> list[StoredPayment]:
    """Payments that landed on the order's slot after it ended (second or late payments), oldest first."""
    rows = await db.fetchall(
        f"SELECT {_STORED_COLUMNS} FROM provider_transactions WHERE duplicate_of = ? ORDER BY paid_at", (trade_no,)
    )
    return records(StoredPayment, rows)


async def unmatched_for_review(db: Database, limit: int) -> list[ReviewRow]:
    """Unmatched payments for the admin's review, latest paid first; the join with the duplicated order is
    read by the orders owner."""
    return records(ReviewRow, await order_queries.unmatched_for_review(db, limit))


async def dismiss_transaction(db: Database, transaction_id: int, *, actor: str, reason: str) -> None:
    """Mark an unmatched provider transaction reviewed and belonging to no order, so it leaves the to-do list.

    It stays recorded (and can still be attached later). Audited. Raises NotFound (a LookupError) when the id
    is unknown, OrderStateError when it is matched or was already dismissed.
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
                raise NotFound(f"收款流水 {transaction_id} 不存在")
            raise OrderStateError(
                f"收款流水 {transaction_id} 当前为{TRANSACTION_STATUS.get(found[0], found[0])}，只有未匹配的流水可以忽略"
            )
        await write_audit(
            conn, actor, "transaction.dismiss", str(transaction_id),
            {"reason": reason, "account_id": row[0], "provider_trade_no": row[1], "amount_fen": row[2]},
        )
