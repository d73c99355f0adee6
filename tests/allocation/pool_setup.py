"""Building a QR pool for a test through the real CodeBook API."""

from __future__ import annotations

import itertools

from agent.appkeys import ACCOUNTS, CODES, DB
from agent.codes import Code
from tests.support.gateway import RunningGateway

_usernames = itertools.count(1)


async def add_code(
    gateway: RunningGateway,
    *,
    account_id: int | None = None,
    terminal_id: str | None = None,
    daily_cap_fen: int | None = None,
    platform: str = "shouqianba",
) -> Code:
    """A code on ``account_id``, or on a fresh account of ``platform`` (terminal id given or generated)."""
    pool = gateway.app[CODES]
    if account_id is None:
        account = await gateway.app[ACCOUNTS].add_account(platform, "测试账号", f"user{next(_usernames)}", "secret")
        account_id = account.id
    return await pool.add_code(
        account_id, payload=f"https://qr.example/{next(_usernames)}", terminal_id=terminal_id,
        daily_cap_fen=daily_cap_fen,
    )


async def pay_amounts(gateway: RunningGateway, status: str = "pending") -> list[tuple[str, int]]:
    rows = await gateway.app[DB].fetchall(
        "SELECT scope, pay_amount_fen FROM orders WHERE status = ? ORDER BY created_at, trade_no", (status,)
    )
    return [(row[0], row[1]) for row in rows]
