"""Everything a request could have written: every table but the ones background work rewrites by itself."""

from __future__ import annotations

from typing import Any

from agent.appkeys import DB
from tests.support.gateway import RunningGateway

BACKGROUND_TABLES = frozenset({"ops_heartbeat", "alert_state", "alert_marks"})


async def database_rows(gateway: RunningGateway) -> dict[str, list[tuple[Any, ...]]]:
    db = gateway.app[DB]
    tables = [
        row[0] for row in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        if row[0] not in BACKGROUND_TABLES
    ]
    rows = {table: [tuple(row) for row in await db.fetchall(f"SELECT * FROM {table}")] for table in tables}
    return {table: sorted(found, key=repr) for table, found in rows.items()}


async def write_count(gateway: RunningGateway) -> int:
    """Rows changed by the gateway's writer connection since it opened (cheap: one statement)."""
    cursor = await gateway.app[DB].conn.execute("SELECT total_changes()")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
