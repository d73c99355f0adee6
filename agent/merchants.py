"""Merchants: the sites that post orders to us, each with a pid, an MD5 signing key and optionally an RSA public key."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from agent import epay_rsa
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.errors import NotFound

_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Merchant:
    pid: int
    name: str
    key: str
    enabled: bool
    rsa_key: rsa.RSAPublicKey | None = None  # epay V2: verifies the merchant's sign_type=RSA requests

    @property
    def rsa_public_key(self) -> str | None:
        """The registered RSA public key as a bare base64 body, or None."""
        return None if self.rsa_key is None else epay_rsa.public_key_body(self.rsa_key)


def new_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


class MerchantBook:
    """Merchant lookups with decrypted keys cached in memory (intake checks a signature on every request).

    Any process may change a merchant (``mapay merchant rotate-key`` runs beside the gateway), so the cache is
    only trusted for ``check_seconds``: then one read of ``merchants_epoch`` (bumped by a trigger on every
    change to ``merchants``) says whether to drop it. That is one tiny query per period, not one per order.
    """

    def __init__(self, db: Database, box: SecretBox, *, check_seconds: float = 1.0) -> None:
        self._db = db
        self._box = box
        self._cache: dict[int, Merchant] = {}
        self._check_seconds = check_seconds
        self._next_check = 0.0  # time.monotonic() after which the epoch is read again
        self._epoch: int | None = None
        self._generation = 0  # bumped when the cache is dropped: a lookup begun before must not refill it

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
        if time.monotonic() >= self._next_check:
            await self._drop_if_changed()
        cached = self._cache.get(pid)
        if cached is not None:
            return cached
        generation = self._generation
        row = await self._db.fetchone(
            "SELECT pid, name, key_enc, enabled, rsa_public_key FROM merchants WHERE pid = ?", (pid,)
        )
        if row is None:
            return None
        rsa_key = epay_rsa.load_public_key(row["rsa_public_key"]) if row["rsa_public_key"] else None
        merchant = Merchant(
            row["pid"], row["name"], self._box.decrypt(row["key_enc"]), bool(row["enabled"]), rsa_key
        )
        if generation == self._generation:
            self._cache[pid] = merchant
        return merchant

    async def _drop_if_changed(self) -> None:
        """Forget every cached merchant when any merchant changed since the last look, in any process."""
        self._next_check = time.monotonic() + self._check_seconds  # set first: concurrent lookups do not pile up
        epoch = await self._db.fetchval("SELECT epoch FROM merchants_epoch")
        if epoch != self._epoch:
            self._forget()
            self._epoch = epoch

    def _forget(self) -> None:
        self._cache.clear()
        self._generation += 1

    async def list(self) -> list[Merchant]:
        rows = await self._db.fetchall("SELECT pid FROM merchants ORDER BY pid")
        merchants = [await self.get(row["pid"]) for row in rows]
        return [m for m in merchants if m is not None]

    async def rotate_key(self, pid: int) -> Merchant:
        return await self._update(pid, key_enc=self._box.encrypt(new_key()))

    async def set_enabled(self, pid: int, enabled: bool) -> Merchant:
        """Accept (or refuse) the merchant's new orders; a disabled merchant's key signs nothing any more."""
        return await self._update(pid, enabled=int(enabled))

    async def set_rsa_key(self, pid: int, public_key: str | None) -> Merchant:
        """Register the merchant's RSA public key (PEM or bare base64), or remove it with None.

        Raises KeyFormatError (Chinese message) for a malformed or non-RSA key, LookupError for an unknown pid.
        Stored as the bare base64 body; the merchants_epoch trigger tells running gateways.
        """
        body = None if public_key is None else epay_rsa.public_key_body(epay_rsa.load_public_key(public_key))
        return await self._update(pid, rsa_public_key=body)

    async def _update(self, pid: int, **columns: object) -> Merchant:
        """Write ``columns`` of one merchant and forget the cached copies (other processes notice through
        the merchants_epoch trigger); raises NotFound for an unknown pid."""
        assignments = ", ".join(f"{name} = ?" for name in columns)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(f"UPDATE merchants SET {assignments} WHERE pid = ?", (*columns.values(), pid))
            if cursor.rowcount == 0:
                raise NotFound(f"商户 {pid} 不存在")
        self._forget()
        merchant = await self.get(pid)
        assert merchant is not None
        return merchant
