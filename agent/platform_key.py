"""The platform's RSA key pair (平台密钥): signs every answer, notify and return of an epay V2 (RSA) order.

Made once per deployment, on the gateway's first start (or by whichever process needs it first: ``mapay
platform-key`` may run before any ``serve``), stored in the database with the private half encrypted by
the deployment's SecretBox like every other secret. A start that cannot write it (full disk) still starts:
the key is made on the next need instead, and until then RSA requests are answered "try later".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from agent import epay_rsa
from agent.appkeys import DB, SECRETS
from agent.crypto import SecretBox
from agent.db import Database, now_ms

log = structlog.get_logger(__name__)

_SELECT = "SELECT private_enc, public_key FROM platform_keys WHERE id = 1"


class PlatformKey:
    """Lazily loaded (or made) platform key pair, cached for the life of the process."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._private: rsa.RSAPrivateKey | None = None
        self._public: str | None = None
        self._lock = asyncio.Lock()

    async def private_key(self) -> rsa.RSAPrivateKey:
        """The platform private key; made and stored first if this deployment has none yet."""
        if self._private is None:
            await self._load(make=True)
        assert self._private is not None
        return self._private

    async def public_key(self) -> str:
        """The platform public key as the bare base64 body merchants paste into their plugin."""
        if self._public is None:
            await self._load(make=True)
        assert self._public is not None
        return self._public

    async def public_key_object(self) -> rsa.RSAPublicKey:
        return (await self.private_key()).public_key()

    async def ensure(self) -> bool:
        """Make or load the key now; False (logged) when the storage cannot take it yet."""
        try:
            await self.private_key()
        except Exception as exc:
            if not self._db.storage.mark_failed(exc):
                log.warning("platform_key_not_ready", error=repr(exc))
            return False
        return True

    async def _load(self, *, make: bool) -> None:
        async with self._lock:
            if self._private is not None:
                return
            row = await self._db.fetchone(_SELECT)
            if row is None and make:
                await self._make()
                row = await self._db.fetchone(_SELECT)
            if row is None:
                raise LookupError("platform key missing")
            private = epay_rsa.load_private_key(self._box.decrypt(row["private_enc"]))
            self._private, self._public = private, row["public_key"]

    async def _make(self) -> None:
        private = await asyncio.to_thread(epay_rsa.generate_private_key)
        public = epay_rsa.public_key_body(private.public_key())
        encrypted = self._box.encrypt(epay_rsa.private_key_pem(private))
        async with self._db.transaction() as conn:
            # Another process may have made one meanwhile: theirs stands, and ours is forgotten.
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO platform_keys (id, private_enc, public_key, created_at) VALUES (1, ?, ?, ?)",
                (encrypted, public, now_ms()),
            )
            made = cursor.rowcount == 1
        if made:
            log.info("platform_key_created", bits=epay_rsa.KEY_BITS)


PLATFORM_KEY = web.AppKey("platform_key", PlatformKey)


def setup(app: web.Application) -> None:
    """Keep a PlatformKey on the app and make the key pair at start (a failed write does not stop the start)."""
    app.cleanup_ctx.append(_platform_key)


async def _platform_key(app: web.Application) -> AsyncIterator[None]:
    key = PlatformKey(app[DB], app[SECRETS])
    app[PLATFORM_KEY] = key
    await key.ensure()
    yield
