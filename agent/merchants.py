"""Merchants: the sites that post orders to us, each with a pid and an MD5 signing key."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from agent.crypto import SecretBox
from agent.db import Database, now_ms

_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Merchant:
    pid: int
    name: str
    key: str
    enabled: bool


def new_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


class MerchantBook:
    """Merchant lookups with decrypted keys cached in memory (intake checks a signature on every request)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._cache: dict[int, Merchant] = {}

    async def create(self, name: str) -> Merchant:
        key = new_key()
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO merchants (name, key_enc, created_at) VALUES (?, ?, ?)",
                (name, self._box.encrypt(key), now_ms()),
            )
            pid = cursor.lastrowid
        assert pid is not None
        return Merchant(pid=pid, name=name, key=key, enabled=True)

    async def get(self, pid: int) -> Merchant | None:
        cached = self._cache.get(pid)
        if cached is not None:
            return cached
        row = await self._db.fetchone("SELECT pid, name, key_enc, enabled FROM merchants WHERE pid = ?", (pid,))
        if row is None:
            return None
        merchant = Merchant(row["pid"], row["name"], self._box.decrypt(row["key_enc"]), bool(row["enabled"]))
        self._cache[pid] = merchant
        return merchant

    async def list(self) -> list[Merchant]:
        rows = await self._db.fetchall("SELECT pid FROM merchants ORDER BY pid")
        merchants = [await self.get(row["pid"]) for row in rows]
        return [m for m in merchants if m is not None]

    async def rotate_key(self, pid: int) -> Merchant:
        key = new_key()
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE merchants SET key_enc = ? WHERE pid = ?", (self._box.encrypt(key), pid)
            )
            if cursor.rowcount == 0:
                raise LookupError(f"merchant {pid} not found")
        self._cache.pop(pid, None)
        merchant = await self.get(pid)
        assert merchant is not None
        return merchant
