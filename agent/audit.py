"""The audit trail: one row for every manual action (mark-paid, attach, close, resend, ...)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiosqlite

from agent.db import now_ms


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
