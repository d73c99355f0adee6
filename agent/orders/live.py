"""Live orders (pending, or expired within the late-payment grace) as the background work reads them.

The matcher's candidates of an account, which accounts the poll scheduler reads, and whether a code still
has a pending order. The rows are returned as the database gives them: each caller maps them to its own
record (``Candidate``, ``AccountNow``), so this package imports nothing of theirs.
"""

from __future__ import annotations

import aiosqlite

from agent.db import Database

_CANDIDATES_SQL = (
    "SELECT o.trade_no, o.account_id, CASE WHEN p.has_terminal THEN c.terminal_id END AS terminal_id, o.type, "
    "o.pay_amount_fen, o.created_at, o.expires_at "
    "FROM orders o JOIN codes c ON c.id = o.code_id JOIN accounts a ON a.id = o.account_id "
    "JOIN platforms p ON p.id = a.platform_id "
    "WHERE o.account_id = ? AND (o.status = 'pending' OR (o.status = 'expired' AND o.expires_at >= ?))"
)

_ENABLED_ACCOUNTS_SQL = (
    "SELECT a.id, p.slug, a.health, a.revision, a.probe_requested_at, l.fresh, l.oldest, l.orders, l.newest "
    "FROM accounts a JOIN platforms p ON p.id = a.platform_id LEFT JOIN ("
    "SELECT account_id, MAX(status = 'pending' AND expires_at >= ?) AS fresh, MIN(created_at) AS oldest, "
    "COUNT(*) AS orders, MAX(created_at) AS newest "
    "FROM orders WHERE status = 'pending' OR (status = 'expired' AND expires_at >= ?) GROUP BY account_id"
    ") l ON l.account_id = a.id WHERE a.enabled = 1"
)


async def match_candidates(db: Database, account_id: int, expired_since: int) -> list[aiosqlite.Row]:
    """The orders a payment into the account may confirm: pending ones, and those that expired at or after
    ``expired_since`` (now minus the late-payment grace). Columns named as ``agent.matching.matcher.Candidate``'s
    fields (the terminal id only when the platform has terminals)."""
    return await db.fetchall(_CANDIDATES_SQL, (account_id, expired_since))


async def enabled_accounts(db: Database, now: int, expired_since: int) -> list[aiosqlite.Row]:
    """Every enabled account with its platform's slug, health, revision and probe request, and its live
    orders: (id, slug, health, revision, probe_requested_at, fresh, oldest, orders, newest) in that order.
    ``fresh`` is whether one is pending and payable at ``now``; ``oldest``/``newest`` are the first and last
    creation times and ``orders`` how many; the last four are NULL for an account without live orders."""
    return await db.fetchall(_ENABLED_ACCOUNTS_SQL, (now, expired_since))


async def has_pending_order(conn: aiosqlite.Connection, code_id: int) -> bool:
    """Whether a pending order still holds one of the code's slots; on the caller's connection, so it is
    read inside the caller's write transaction (``agent.codes`` refuses a new terminal id then)."""
    async with conn.execute(
        "SELECT 1 FROM orders WHERE code_id = ? AND status = 'pending' LIMIT 1", (code_id,)
    ) as cursor:
        return await cursor.fetchone() is not None
