"""The database itself refuses two pending orders with one payable amount in one scope."""

from __future__ import annotations

import sqlite3

import pytest

from agent.appkeys import DB
from agent.db import now_ms
from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code
from tests.support.gateway import RunningGateway

_INSERT = (
    "INSERT INTO orders (trade_no, pid, out_trade_no, name, money_fen, pay_amount_fen, code_id, account_id, "
    "scope, status, created_at, expires_at, notify_url) VALUES (?, ?, ?, 'n', 500, 500, ?, ?, ?, ?, ?, ?, 'http://x')"
)


async def test_two_pending_orders_cannot_share_scope_and_amount(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    code = await add_code(gateway, terminal_id="T1")
    now = now_ms()

    def row(n: int, scope: str, status: str) -> tuple[object, ...]:
        return (f"{n}", merchant.pid, f"o{n}", code.id, code.account_id, scope, status, now, now + 1000)

    db = gateway.app[DB]
    async with db.transaction() as conn:
        await conn.execute(_INSERT, row(1, "a1:tT1", "pending"))
        await conn.execute(_INSERT, row(2, "a1:tT2", "pending"))  # another scope: fine
        await conn.execute(_INSERT, row(3, "a1:tT1", "paid"))  # not live: fine
        await conn.execute(_INSERT, row(4, "a1:tT1", "expired"))
    with pytest.raises(sqlite3.IntegrityError, match=r"orders\.scope"):
        async with db.transaction() as conn:
            await conn.execute(_INSERT, row(5, "a1:tT1", "pending"))
    with pytest.raises(sqlite3.IntegrityError, match=r"orders\.scope"):
        async with db.transaction() as conn:
            await conn.execute("UPDATE orders SET status = 'pending' WHERE trade_no = '3'")
    assert await db.fetchval("SELECT count(*) FROM orders") == 4
