"""The ``audit_log`` table's owner: one row for every manual action (mark-paid, attach, close, resend, ...)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from agent.db import Database, now_ms
from agent.db.rows import records


async def write_audit(
    conn: aiosqlite.Connection, actor: str, action: str, target: str, detail: Mapping[str, Any]
) -> None:
    """Append an audit row inside the caller's write transaction, so the action and its record commit together.

    ``actor`` is 'cli', 'admin:<name>' or 'system'; ``detail`` must never hold secrets.
    """
    await conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (now_ms(), actor, action, target, json.dumps(detail, ensure_ascii=False, sort_keys=True)),
    )


async def record_audit(db: Database, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
    """Append an audit row on its own, for an action whose owner does not audit it in its own transaction."""
    async with db.transaction() as conn:
        await write_audit(conn, actor, action, target, detail)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: int
    actor: str
    action: str
    detail: str  # JSON


async def audit_trail(db: Database, target: str) -> list[AuditEntry]:
    """Everything done by hand to ``target`` (a trade_no, an id), oldest first."""
    rows = await db.fetchall("SELECT at, actor, action, detail FROM audit_log WHERE target = ? ORDER BY at", (target,))
    return records(AuditEntry, rows)
