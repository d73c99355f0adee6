"""Replay protection for timestamped (epay V2 style) requests: each signature is accepted once.

A signature is claimed in the database (``seen_signatures``) until its timestamp leaves the accepted window,
so neither a restart nor a second gateway process on the same database accepts it twice. Claims made while
other claims are being written share one transaction (the way the allocator batches orders), so under load
replay protection costs a fraction of a write per request; expired rows are pruned inside the same
transactions, at most once every ``PRUNE_EVERY_MS``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3

import structlog

from agent.db import Database, now_ms

log = structlog.get_logger(__name__)

PRUNE_EVERY_MS = 60_000
_PRUNE_BATCH = 5_000

_Claim = tuple[bytes, int, "asyncio.Future[bool]"]


def signature_digest(pid: int, sign: str) -> bytes:
    """What is stored for a signature: 16 bytes of sha256 over the merchant and the signature text."""
    return hashlib.sha256(f"{pid}:{sign}".encode()).digest()[:16]


class ReplayGuard:
    """Claims signatures durably; ``claim`` is False when the signature was claimed before (a replay)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Claim] = []
        self._writer: asyncio.Task[None] | None = None
        self._next_prune = 0

    async def claim(self, digest: bytes, expires_at_ms: int) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((digest, expires_at_ms, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_claims(), name="replay-claims")
        return await future

    async def release(self, digest: bytes) -> None:
        """Forget a claim whose request was refused after all (nothing may stay written by a refusal)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM seen_signatures WHERE digest = ?", (digest,))

    async def _write_claims(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            now = now_ms()
            prune = now >= self._next_prune
            try:
                fresh = await self._db.run_transaction(functools.partial(_insert, batch=batch, now=now, prune=prune))
            except Exception as exc:  # the storage's failure is each waiting request's failure
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if prune:
                self._next_prune = now + PRUNE_EVERY_MS
            for (_, _, future), accepted in zip(batch, fresh, strict=True):
                if not future.done():
                    future.set_result(accepted)


def _insert(conn: sqlite3.Connection, *, batch: list[_Claim], now: int, prune: bool) -> list[bool]:
    if prune:
        conn.execute(
            "DELETE FROM seen_signatures WHERE digest IN "
            "(SELECT digest FROM seen_signatures WHERE expires_at < ? LIMIT ?)",
            (now, _PRUNE_BATCH),
        )
    fresh = []
    for digest, expires_at, _ in batch:
        cursor = conn.execute(
            "INSERT INTO seen_signatures (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE "
            "SET expires_at = excluded.expires_at WHERE seen_signatures.expires_at < ?",
            (digest, expires_at, now),
        )
        fresh.append(cursor.rowcount == 1)
    return fresh
