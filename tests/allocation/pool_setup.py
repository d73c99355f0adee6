"""Building a QR pool for a test through the real CodeBook API."""

from __future__ import annotations

from agent.appkeys import DB
from agent.codes import Code
from tests.support import factories
from tests.support.gateway import RunningGateway


async def add_code(
    gateway: RunningGateway,
    *,
    account_id: int | None = None,
    terminal_id: str | None = None,
    daily_cap_fen: int | None = None,
    platform: str = "shouqianba",
) -> Code:
    """A code on ``account_id``, or on a fresh account of ``platform`` (no terminal id unless given)."""
    return await factories.add_code(
        gateway.app, account_id=account_id, terminal_id=terminal_id, platform=platform, daily_cap_fen=daily_cap_fen,
        account_name="测试账号",
    )


async def pay_amounts(gateway: RunningGateway, status: str = "pending") -> list[tuple[str, int]]:
    rows = await gateway.app[DB].fetchall(
        "SELECT scope, pay_amount_fen FROM orders WHERE status = ? ORDER BY created_at, trade_no", (status,)
    )
    return [(row[0], row[1]) for row in rows]
