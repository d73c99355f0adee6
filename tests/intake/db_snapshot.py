"""What an intake request may change: the orders, the codes' rotation state and the signatures seen (replays)."""

from __future__ import annotations

from typing import Any

from agent.appkeys import DB
from tests.support.gateway import RunningGateway


async def snapshot(gateway: RunningGateway) -> list[Any]:
    db = gateway.app[DB]
    orders = await db.fetchall("SELECT * FROM orders ORDER BY trade_no")
    codes = await db.fetchall("SELECT id, last_used_at FROM codes ORDER BY id")
    seen = await db.fetchall("SELECT digest, expires_at FROM seen_signatures ORDER BY digest")
    return [tuple(row) for row in orders] + [tuple(row) for row in codes] + [tuple(row) for row in seen]
