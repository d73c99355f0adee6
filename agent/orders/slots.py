"""The allocator's reads of ``orders``: today's use of capped codes and the slots pending orders hold.

The allocator runs its whole transaction on the database's writer thread (``Database.run_transaction``),
so these take a plain ``sqlite3.Connection``, like the synchronous writes of ``agent.orders.transitions``,
and return the rows as tuples: they run for every order placed and every reload of the pool view.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

# Scopes never contain the unit separator; were one to, the unique index would still refuse the clash.
SCOPE_SEPARATOR = "\x1f"  # char(31) in _TAKEN_SQL

_ELIGIBLE_SQL = (
    "SELECT c.id, c.account_id, c.terminal_id, p.has_terminal, c.daily_cap_fen, c.last_used_at, "
    # today's (China time) paid and pending pay amounts, for capped codes only
    "CASE WHEN c.daily_cap_fen IS NULL THEN 0 ELSE (SELECT coalesce(sum(o.pay_amount_fen), 0) FROM orders o "
    "WHERE o.code_id = c.id AND o.created_at >= ? AND o.status IN ('pending', 'paid')) END, "
    # a degraded account's codes take orders until failing_since + the grace (NULL: healthy)
    "CASE WHEN a.health = 'ok' THEN NULL ELSE a.failing_since END "
    "FROM codes c JOIN accounts a ON a.id = c.account_id JOIN platforms p ON p.id = a.platform_id "
    "WHERE c.enabled = 1 AND a.enabled = 1 "
    "AND (a.health = 'ok' OR (a.health = 'degraded' AND a.failing_since IS NOT NULL)) "
    "ORDER BY c.last_used_at, c.id"
)
_TAKEN_SQL = (
    "SELECT pay_amount_fen, group_concat(scope, char(31)) FROM orders INDEXED BY orders_live_by_amount "
    "WHERE status = 'pending' AND pay_amount_fen BETWEEN ? AND ? GROUP BY pay_amount_fen"
)


def eligible_codes(conn: sqlite3.Connection, day_start: int) -> list[Any]:
    """The enabled codes of enabled accounts that may take an order, least recently used first, as
    (id, account_id, terminal_id, has_terminal, daily_cap_fen, last_used_at, used today, failing_since):
    ``used today`` is the pay amount of the code's pending and paid orders created since ``day_start``
    (0 for an uncapped code); ``failing_since`` is NULL for a healthy account and set for a degraded one."""
    return conn.execute(_ELIGIBLE_SQL, (day_start,)).fetchall()


def taken_slots(conn: sqlite3.Connection, ranges: Sequence[tuple[int, int]]) -> list[Any]:
    """(pay_amount_fen, scopes joined by :data:`SCOPE_SEPARATOR`) of every amount a pending order holds in
    the (low, high) ranges, inclusive: one statement, one index range seek per range."""
    return conn.execute(
        " UNION ALL ".join([_TAKEN_SQL] * len(ranges)), [bound for span in ranges for bound in span]
    ).fetchall()
