"""Browser session state per account, encrypted at rest in ``accounts.session_enc``.

Saved after every login (and when a context is recycled or closed), restored when a context is
created, so a restart does not log in again while the provider still honours the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.crypto import SecretBox
from agent.db import Database, now_ms


@dataclass(frozen=True, slots=True)
class SavedSession:
    storage_state: dict[str, Any]  # Playwright's cookies + localStorage per origin
    values: dict[str, str]  # tokens the profile captured (used in request templates)
    saved_at: int


class SessionStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def load(self, account_id: int) -> SavedSession | None:
        sealed = await self._db.fetchval("SELECT session_enc FROM accounts WHERE id = ?", (account_id,))
        if not sealed:
            return None
        try:
            data = json.loads(self._box.decrypt(sealed))
        except ValueError:
            return None  # written with another key: treat as no session, a login replaces it
        return SavedSession(data["storage_state"], data["values"], data["saved_at"])

    async def save(self, account_id: int, storage_state: dict[str, Any], values: dict[str, str]) -> None:
        sealed = self._box.encrypt(
            json.dumps({"storage_state": storage_state, "values": values, "saved_at": now_ms()})
        )
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET session_enc = ? WHERE id = ?", (sealed, account_id))

    async def clear(self, account_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET session_enc = NULL WHERE id = ?", (account_id,))
