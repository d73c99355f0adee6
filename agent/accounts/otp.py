"""One-time codes typed by a person for an account waiting at its provider's SMS step.

``deliver_otp`` is what ``mapay account otp ID CODE`` (and the admin console) call; it may run in
another process than the agent, so the code goes through the database, encrypted. The agent's next
login attempt takes it only if it was delivered after the provider sent the SMS it is waiting on.
"""

from __future__ import annotations

import re

from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.errors import InvalidChange, NotFound

_CODE = re.compile(r"^[0-9A-Za-z]{4,8}$")
RESUMED_REASON = "one-time code delivered: the login resumes"


async def deliver_otp(db: Database, box: SecretBox, account_id: int, code: str) -> None:
    """Store a one-time code for the account (replacing an older one). Raises ValueError/LookupError."""
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise InvalidChange("一次性验证码应为 4-8 位字母或数字")
    if await db.fetchval("SELECT 1 FROM accounts WHERE id = ?", (account_id,)) is None:
        raise NotFound(f"账号 {account_id} 不存在")
    async with db.transaction() as conn:
        # Out of needs_human, so the poll scheduler tries the login again and it picks the code up.
        await conn.execute(
            "UPDATE accounts SET health = 'degraded', health_reason = ?, health_at = ? "
            "WHERE id = ? AND health = 'needs_human'",
            (RESUMED_REASON, now_ms(), account_id),
        )
        await conn.execute(
            "INSERT INTO account_otps (account_id, code_enc, delivered_at) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id) DO UPDATE SET code_enc = excluded.code_enc, delivered_at = excluded.delivered_at",
            (account_id, box.encrypt(code), now_ms()),
        )


async def take_otp(db: Database, box: SecretBox, account_id: int, sent_after_ms: int) -> str | None:
    """Consume the account's code if it was delivered after ``sent_after_ms``; older codes are dropped."""
    async with db.transaction() as conn, conn.execute(
        "DELETE FROM account_otps WHERE account_id = ? RETURNING code_enc, delivered_at", (account_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None or row[1] < sent_after_ms:
        return None
    return box.decrypt(row[0])
