"""Reads of the ``orders`` table, written once for api.php, the native API, the cashier, the admin console, the CLI,
``/metrics`` and the alert watcher.

Every read of orders alone maps its rows to a typed record by column name; the joins that other tables' owners
need (notify jobs, unmatched payments with their order) return rows for the caller's own record. The live
orders of the matcher, the poll scheduler and the codes are in ``agent.orders.live``, the allocator's reads in
``agent.orders.slots``, the writes in ``agent.orders.transitions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiosqlite

from agent.db import Database
from agent.db.rows import records
from agent.orders.record import ORDER_COLUMNS, Order, OrderStatus
from agent.timefmt import DAY_MS, shanghai_day_start_ms


async def get_order(db: Database, trade_no: str) -> Order | None:
    row = await db.fetchone(f"SELECT {ORDER_COLUMNS} FROM orders WHERE trade_no = ?", (trade_no,))
    return None if row is None else Order.from_row(row)


async def get_order_by_out_trade_no(db: Database, pid: int, out_trade_no: str) -> Order | None:
    row = await db.fetchone(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE pid = ? AND out_trade_no = ?", (pid, out_trade_no)
    )
    return None if row is None else Order.from_row(row)


async def latest_orders(
    db: Database, *, limit: int, offset: int = 0, pid: int | None = None, status: OrderStatus | str | None = None
) -> list[Order]:
    """The newest orders first, of one merchant and/or one status when given (api.php ``orders``, ``order list``),
    skipping the ``offset`` newest."""
    where, params = _where(("pid = ?", pid), ("status = ?", None if status is None else str(status)))
    rows = await db.fetchall(
        f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY created_at DESC, trade_no DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [Order.from_row(row) for row in rows]


@dataclass(frozen=True, slots=True)
class PaidCounts:
    """A merchant's paid orders: all of them, today's and yesterday's (China calendar days)."""

    total: int
    today: int
    yesterday: int


async def paid_counts(db: Database, pid: int, now: int) -> PaidCounts:
    today = shanghai_day_start_ms(now)
    row = await db.fetchone(
        "SELECT count(*) AS total, coalesce(sum(paid_at >= ?), 0) AS today, "
        "coalesce(sum(paid_at >= ? AND paid_at < ?), 0) AS yesterday FROM orders WHERE pid = ? AND status = ?",
        (today, today - DAY_MS, today, pid, OrderStatus.PAID.value),
    )
    assert row is not None  # an aggregate always has a row
    return PaidCounts(row["total"], row["today"], row["yesterday"])


@dataclass(frozen=True, slots=True)
class Figures:
    """Orders created in a period, how many of them are paid and how many still payable at ``now``; and the
    merchant amount paid in the period (by payment time)."""

    orders: int
    paid: int
    live: int
    paid_fen: int


async def figures(db: Database, start: int, end: int | None, now: int) -> Figures:
    """The period is [start, end), or from ``start`` on when ``end`` is None."""
    until = end if end is not None else 2**63 - 1
    row = await db.fetchone(
        "SELECT count(*) AS orders, coalesce(sum(status = 'paid'), 0) AS paid, "
        "coalesce(sum(status = 'pending' AND expires_at > ?), 0) AS live FROM orders "
        "WHERE created_at >= ? AND created_at < ?",
        (now, start, until),
    )
    paid_fen = await db.fetchval(
        "SELECT coalesce(sum(money_fen), 0) FROM orders WHERE status = 'paid' AND paid_at >= ? AND paid_at < ?",
        (start, until),
    )
    assert row is not None  # an aggregate always has a row
    return Figures(row["orders"], row["paid"], row["live"], int(paid_fen))


async def status_counts(db: Database) -> dict[str, int]:
    """How many orders each status has, for ``/metrics`` (a status without orders is absent)."""
    rows = await db.fetchall("SELECT status, count(*) FROM orders GROUP BY status")
    return {row[0]: row[1] for row in rows}


# --- the admin console ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSearch:
    """The order list's filters, already parsed; None means "any"."""

    status: str | None = None
    pid: int | None = None
    created_from: int | None = None  # epoch ms, inclusive
    created_before: int | None = None  # epoch ms, exclusive
    amount_fen: int | None = None  # the merchant's amount or the payable amount
    number: str | None = None  # our trade_no, the merchant's out_trade_no or the provider's trade no
    notify_status: str | None = None  # the notify job's status


@dataclass(frozen=True, slots=True)
class OrderListRow:
    trade_no: str
    out_trade_no: str
    pid: int
    name: str
    money_fen: int
    pay_amount_fen: int
    status: str
    type: str | None
    created_at: int
    paid_at: int | None
    notify_status: str | None
    attempts: int | None


def _search_where(search: OrderSearch) -> tuple[str, list[Any]]:
    return _where(
        ("o.status = ?", search.status),
        ("o.pid = ?", search.pid),
        ("o.created_at >= ?", search.created_from),
        ("o.created_at < ?", search.created_before),
        ("(o.money_fen = ?1 OR o.pay_amount_fen = ?1)", search.amount_fen),
        ("(o.trade_no = ?1 OR o.out_trade_no = ?1 OR o.provider_trade_no = ?1)", search.number),
        ("o.trade_no IN (SELECT trade_no FROM notify_jobs WHERE status = ?)", search.notify_status),
    )


async def search_orders(db: Database, search: OrderSearch, *, limit: int, offset: int) -> tuple[int, list[OrderListRow]]:
    """How many orders match, and one page of them newest first with their notify job's state."""
    where, params = _search_where(search)
    total = await db.fetchval(f"SELECT count(*) FROM orders o {where}", params)
    rows = await db.fetchall(
        "SELECT o.trade_no, o.out_trade_no, o.pid, o.name, o.money_fen, o.pay_amount_fen, o.status, o.type, "
        "o.created_at, o.paid_at, n.status AS notify_status, n.attempts FROM orders o "
        f"LEFT JOIN notify_jobs n ON n.trade_no = o.trade_no {where} "
        "ORDER BY o.created_at DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return int(total), records(OrderListRow, rows)


@dataclass(frozen=True, slots=True)
class LiveOrder:
    trade_no: str
    out_trade_no: str
    pid: int
    money_fen: int
    pay_amount_fen: int
    created_at: int
    expires_at: int
    account: str  # the account's name


async def live_orders(db: Database, now: int, limit: int) -> list[LiveOrder]:
    """Pending orders a payer can still pay, newest first, with the account they pay into."""
    rows = await db.fetchall(
        "SELECT o.trade_no, o.out_trade_no, o.pid, o.money_fen, o.pay_amount_fen, o.created_at, o.expires_at, "
        "a.name AS account FROM orders o JOIN accounts a ON a.id = o.account_id "
        "WHERE o.status = ? AND o.expires_at > ? ORDER BY o.created_at DESC LIMIT ?",
        (OrderStatus.PENDING.value, now, limit),
    )
    return records(LiveOrder, rows)


@dataclass(frozen=True, slots=True)
class Usage:
    """Orders placed and paid (count and merchant amount) for one code or merchant."""

    orders: int
    paid: int
    paid_fen: int


_USAGE = (
    "count(*) AS orders, coalesce(sum(status = 'paid'), 0) AS paid, "
    "coalesce(sum(CASE WHEN status = 'paid' THEN money_fen END), 0) AS paid_fen FROM orders"
)


async def usage_by_code(db: Database, since: int) -> dict[int, Usage]:
    rows = await db.fetchall(f"SELECT code_id, {_USAGE} WHERE created_at >= ? GROUP BY code_id", (since,))
    return {row["code_id"]: Usage(row["orders"], row["paid"], row["paid_fen"]) for row in rows}


async def usage_by_merchant(db: Database) -> dict[int, Usage]:
    rows = await db.fetchall(f"SELECT pid, {_USAGE} GROUP BY pid")
    return {row["pid"]: Usage(row["orders"], row["paid"], row["paid_fen"]) for row in rows}


@dataclass(frozen=True, slots=True)
class Suggestion:
    trade_no: str
    money_fen: int
    pay_amount_fen: int
    status: str
    created_at: int


async def attach_suggestions(
    db: Database, account_id: int, *, paid_at: int, amount_fen: int, window_ms: int, limit: int = 5
) -> list[Suggestion]:
    """Orders an unmatched payment may belong to: same account, created up to ``window_ms`` before it was paid,
    pending or expired, the closest payable amount first."""
    rows = await db.fetchall(
        "SELECT trade_no, money_fen, pay_amount_fen, status, created_at FROM orders "
        "WHERE account_id = ? AND status IN (?, ?) AND created_at BETWEEN ? AND ? "
        "ORDER BY abs(pay_amount_fen - ?), created_at DESC LIMIT ?",
        (account_id, OrderStatus.PENDING.value, OrderStatus.EXPIRED.value, paid_at - window_ms, paid_at,
         amount_fen, limit),
    )
    return records(Suggestion, rows)


# --- other tables' rows read with their order's fields ------------------------------------------------
# The callers own those tables and map the rows to their own records.


async def stale_notifies(db: Database, created_before: int) -> list[aiosqlite.Row]:
    """Notify jobs still pending or failed that were queued at or before ``created_before``, oldest first, with
    their order's pid, out_trade_no and money_fen and the merchant's name (the alert watcher)."""
    return await db.fetchall(
        "SELECT j.trade_no, j.attempts, j.last_error, j.created_at, o.pid, m.name AS merchant, o.out_trade_no, "
        "o.money_fen FROM notify_jobs j JOIN orders o ON o.trade_no = j.trade_no JOIN merchants m ON m.pid = o.pid "
        "WHERE j.status IN ('pending', 'failed') AND j.created_at <= ? ORDER BY j.created_at, j.trade_no",
        (created_before,),
    )


async def unmatched_seen(db: Database, since: int, upto: int) -> list[aiosqlite.Row]:
    """Unmatched provider payments first seen in (since, upto], in that order, with the account's and platform's
    names and the status of the order whose slot a duplicate landed on (the alert watcher)."""
    return await db.fetchall(
        "SELECT t.id, t.provider_trade_no, t.amount_fen, t.channel, t.paid_at, a.name AS account, p.name AS platform, "
        "t.duplicate_of, d.status AS duplicate_status FROM provider_transactions t "
        "JOIN accounts a ON a.id = t.account_id JOIN platforms p ON p.id = a.platform_id "
        "LEFT JOIN orders d ON d.trade_no = t.duplicate_of "
        "WHERE t.status = 'unmatched' AND t.seen_at > ? AND t.seen_at <= ? ORDER BY t.seen_at, t.id",
        (since, upto),
    )


async def unmatched_for_review(db: Database, limit: int) -> list[aiosqlite.Row]:
    """The ``limit`` latest-paid unmatched provider payments with the account's name and the status of the
    order whose slot a duplicate landed on (``agent.provider_transactions.ReviewRow``'s columns)."""
    return await db.fetchall(
        "SELECT t.id, t.account_id, a.name AS account, t.provider_trade_no, t.amount_fen, t.channel, t.paid_at, "
        "t.terminal_id, t.seen_at, t.duplicate_of, d.status AS duplicate_status FROM provider_transactions t "
        "JOIN accounts a ON a.id = t.account_id LEFT JOIN orders d ON d.trade_no = t.duplicate_of "
        "WHERE t.status = 'unmatched' ORDER BY t.paid_at DESC LIMIT ?", (limit,),
    )


def _where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """A WHERE clause of the conditions whose value is given (not None). ``?1`` in a condition is its own
    value, repeated; it is rewritten to plain ``?`` placeholders so the clauses combine."""
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in conditions:
        if value is None:
            continue
        repeats = clause.count("?1")
        if repeats:
            clause = clause.replace("?1", "?")
            params.extend([value] * repeats)
        else:
            params.append(value)
        clauses.append(clause)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
