"""Live orders (pending, or expired within the late-payment grace) as the background work reads them.

The matcher's candidates of an account. The rows are returned as the database gives them: the caller maps
them to its own record (``Candidate``), so this package imports nothing of the matcher's.
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


async def match_candidates(db: Database, account_id: int, expired_since: int) -> list[aiosqlite.Row]:
    """The orders a payment into the account may confirm: pending ones, and those that expired at or after
    ``expired_since`` (now minus the late-payment grace). Columns named as ``agent.matching.matcher.Candidate``'s
    fields (the terminal id only when the platform has terminals)."""
    return await db.fetchall(_CANDIDATES_SQL, (account_id, expired_since))
