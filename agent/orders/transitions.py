"""The only writer of the ``orders`` table: new orders and every change of an order's status.

::

    (new) ──place──▶ pending ──confirm──▶ paid        (matched payment, 补单 by hand, attached payment)
                     pending ──close────▶ closed      (the merchant or an admin gave up on it)
                     pending ──expire───▶ expired ──confirm──▶ paid   (a late payment within the grace)
                                          expired ──renew────▶ pending (the merchant sent it again)
                     pending, untyped ──choose_method──▶ pending with a type (the payer's choice)

Two forms, for two kinds of caller. The allocator runs its whole transaction synchronously on the
database's writer thread (``Database.run_transaction``), so ``insert_orders``, ``renew`` and
``expire_overdue_in`` take a plain ``sqlite3.Connection``; they are the same statements the async callers
use. Everything else is async, on an ``aiosqlite`` connection inside ``db.transaction()``.

The triggers of migrations 0007 and 0008 (allocation epoch, amount quarantine) are on the table, so they
fire whichever function writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import aiosqlite

from agent.audit import write_audit
from agent.db import Database, now_ms
from agent.errors import InvalidChange, OrderStateError
from agent.labels import ORDER_STATUS
from agent.notify.outbox import queue_notify
from agent.orders.queries import get_order
from agent.orders.record import UNKNOWN_CHANNEL_TYPE, Order, OrderStatus

CONFIRMABLE = (OrderStatus.PENDING, OrderStatus.EXPIRED)

_INSERT_SQL = (
    "INSERT INTO orders (trade_no, pid, out_trade_no, type, name, money_fen, pay_amount_fen, code_id, "
    "account_id, scope, status, created_at, expires_at, param, notify_url, return_url, clientip, device, "
    "sitename, sign_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_RENEW_SQL = (
    "UPDATE orders SET status = 'pending', pay_amount_fen = ?, code_id = ?, account_id = ?, scope = ?, "
    "created_at = ?, expires_at = ? WHERE trade_no = ? AND status = 'expired'"
)
_EXPIRE_SQL = (
    "UPDATE orders SET status = 'expired' WHERE status = 'pending' AND expires_at < ? "
    "RETURNING scope, pay_amount_fen, code_id, created_at"
)
_CONFIRM_SQL = (
    "UPDATE orders SET status = 'paid', paid_at = ?, provider_trade_no = ?, type = coalesce(type, ?, ("
    " SELECT t.channel FROM provider_transactions t"
    " WHERE t.account_id = orders.account_id AND t.provider_trade_no = ?), ?) "
    "WHERE trade_no = ? AND status IN ('pending', 'expired')"
)
_CLOSE_SQL = "UPDATE orders SET status = 'closed' WHERE trade_no = ? AND status = 'pending'"
_CHOOSE_METHOD_SQL = (
    "UPDATE orders SET type = ? WHERE trade_no = ? AND status = 'pending' AND type IS NULL AND expires_at >= ?"
)


# --- the allocator's form: plain sqlite3, inside Database.run_transaction -------------------------------


def insert_orders(conn: sqlite3.Connection, orders: Sequence[Order]) -> None:
    """Write new pending orders; a unique index or a quarantine trigger refusing one raises IntegrityError."""
    conn.executemany(_INSERT_SQL, [_insert_params(order) for order in orders])


def insert_order(conn: sqlite3.Connection, order: Order) -> None:
    conn.execute(_INSERT_SQL, _insert_params(order))


def renew(conn: sqlite3.Connection, order: Order) -> bool:
    """Put an expired order back to pending with ``order``'s new slot and lifetime; False when it is no longer
    expired (paid or renewed meanwhile)."""
    cursor = conn.execute(
        _RENEW_SQL,
        (order.pay_amount_fen, order.code_id, order.account_id, order.scope, order.created_at, order.expires_at,
         order.trade_no),
    )
    return cursor.rowcount > 0


def expire_overdue_in(conn: sqlite3.Connection, cutoff: int) -> list[tuple[str, int, int, int]]:
    """Mark pending orders whose ``expires_at`` is before ``cutoff`` expired; returns them as
    (scope, pay_amount_fen, code_id, created_at), the slots they free (into quarantine)."""
    return [tuple(row) for row in conn.execute(_EXPIRE_SQL, (cutoff,)).fetchall()]


async def expire_overdue(db: Database, *, skew_ms: int, now: int | None = None) -> int:
    """Mark pending orders past ``expires_at + skew`` expired (they stay matchable during the grace time).

    The same sweep the allocator runs at the start of each of its transactions, for when no order is placed.
    """
    cutoff = (now_ms() if now is None else now) - skew_ms
    # Read first: most sweeps find nothing, and then need no write transaction.
    if await db.fetchval("SELECT 1 FROM orders WHERE status = 'pending' AND expires_at < ? LIMIT 1", (cutoff,)) is None:
        return 0
    return await db.run_transaction(lambda conn: len(expire_overdue_in(conn, cutoff)))


# --- everyone else: aiosqlite ---------------------------------------------------------------------------


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
        _CONFIRM_SQL, (paid_at, provider_trade_no, channel, provider_trade_no, UNKNOWN_CHANNEL_TYPE, trade_no)
    )
    if cursor.rowcount == 0:
        raise OrderStateError(await _why_not(conn, trade_no, CONFIRMABLE, "确认付款"))
    await queue_notify(conn, trade_no, now_ms())


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
        raise InvalidChange("手动补单必须填写原因")
    async with db.transaction() as conn:
        await confirm_order(
            conn, trade_no, paid_at=now_ms() if paid_at is None else paid_at, provider_trade_no=provider_trade_no
        )
        await write_audit(
            conn, actor, "order.mark_paid", trade_no, {"reason": reason, "provider_trade_no": provider_trade_no}
        )
    return await committed_order(db, trade_no)


async def close_order(db: Database, trade_no: str, *, actor: str, reason: str = "") -> Order:
    """Close a pending order (the payer gave up, the merchant cancelled); frees its amount slot. Audited."""
    async with db.transaction() as conn:
        cursor = await conn.execute(_CLOSE_SQL, (trade_no,))
        if cursor.rowcount == 0:
            raise OrderStateError(await _why_not(conn, trade_no, (OrderStatus.PENDING,), "关闭"))
        await write_audit(conn, actor, "order.close", trade_no, {"reason": reason})
    return await committed_order(db, trade_no)


async def choose_method(db: Database, trade_no: str, method: str, *, now: int | None = None) -> bool:
    """Set the order's epay type once, while it is pending, untyped and not past its expiry; False otherwise."""
    async with db.transaction() as conn:
        cursor = await conn.execute(_CHOOSE_METHOD_SQL, (method, trade_no, now_ms() if now is None else now))
        return cursor.rowcount > 0


async def committed_order(db: Database, trade_no: str) -> Order:
    """An order just written in a committed transaction."""
    order = await get_order(db, trade_no)
    assert order is not None  # just written in a committed transaction
    return order


async def _why_not(conn: aiosqlite.Connection, trade_no: str, allowed: Sequence[OrderStatus], action: str) -> str:
    """Why the order cannot take ``action`` (a Chinese verb such as 关闭), naming its state and the allowed ones."""
    async with conn.execute("SELECT status FROM orders WHERE trade_no = ?", (trade_no,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return f"订单 {trade_no} 不存在"
    allowed_names = "或".join(ORDER_STATUS[s] for s in allowed)
    return f"订单 {trade_no} 当前为{ORDER_STATUS.get(row[0], row[0])}，只有{allowed_names}的订单可以{action}"


def _insert_params(order: Order) -> tuple[object, ...]:
    return (
        order.trade_no, order.pid, order.out_trade_no, order.type, order.name, order.money_fen,
        order.pay_amount_fen, order.code_id, order.account_id, order.scope, order.created_at,
        order.expires_at, order.param, order.notify_url, order.return_url, order.clientip, order.device,
        order.sitename, order.sign_type,
    )
