"""Online backup: a consistent copy of the SQLite database taken while the gateway keeps writing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiosqlite
import structlog

from agent.db import Database

log = structlog.get_logger(__name__)


def _prepare(path: Path | str) -> tuple[Path, Path]:
    """The absolute target and a fresh scratch file beside it (same file system: the rename is atomic)."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    return target, partial


def _publish(partial: Path, target: Path) -> int:
    os.replace(partial, target)
    return target.stat().st_size


async def backup(db: Database, path: Path | str) -> Path:
    """Write a snapshot of ``db`` to ``path`` (replaced atomically if it exists); returns the path.

    ``VACUUM INTO`` runs as one read transaction on its own connection: under WAL it sees a single
    committed state, never blocks the writer, and produces a compact file. The copy is written next to the
    target first and renamed, so ``path`` is never a half-written database. Note the copy is only
    readable together with the secret key (``MAPAY_SECRET_KEY`` or ``<data_dir>/secret.key``).
    """
    target, partial = await asyncio.to_thread(_prepare, path)
    try:
        async with aiosqlite.connect(db.path) as conn:
            await conn.execute("VACUUM INTO ?", (str(partial),))
        size = await asyncio.to_thread(_publish, partial, target)
    finally:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
    log.info("backup_written", path=str(target), bytes=size)
    return target
