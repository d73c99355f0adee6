"""Commits never copy the WAL into the database file themselves; a background checkpoint does, soon after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.db import Database, database
from tests.support.eventually import eventually


async def test_the_wal_is_checkpointed_in_the_background_not_by_commits(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Database(path) as db:
        assert [tuple(row) for row in await db.conn.execute_fetchall("PRAGMA wal_autocheckpoint")] == [(0,)]
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
        for _ in range(20):  # about 5 MB: past the 1,000 pages at which a commit would checkpoint by default
            async with db.transaction() as conn:
                await conn.executemany("INSERT INTO t (pad) VALUES (?)", [("x" * 2000,)] * 128)
        await eventually(lambda: path.stat().st_size > 5_000_000, within=5)
        assert await db.fetchval("SELECT count(*) FROM t") == 20 * 128


async def test_under_constant_writes_the_wal_still_starts_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PASSIVE checkpoint never catches up with a writer that keeps writing; the WAL must not grow without
    bound. Scaled down so a second of writing shows it: checkpoints every 0.2 s, the WAL made to start over
    past 1 MB and its file cut back to 1 MB when it does."""
    monkeypatch.setattr(database, "_CHECKPOINT_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(database, "_WAL_REWIND_FRAMES", 250)
    monkeypatch.setattr(database, "_WAL_SIZE_LIMIT", 1_000_000)
    path = tmp_path / "db.sqlite3"
    wal = Path(f"{path}-wal")
    largest = 0
    async with Database(path) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
        deadline = asyncio.get_running_loop().time() + 1.5
        while asyncio.get_running_loop().time() < deadline:  # about 6 MB a second
            async with db.transaction() as conn:
                await conn.executemany("INSERT INTO t (pad) VALUES (?)", [("x" * 1000,)] * 16)
            largest = max(largest, _size(wal))
            await asyncio.sleep(0.002)
        written = _size(path) + _size(wal)
    assert written > 6_000_000
    assert largest < 4_000_000


def _size(path: Path) -> int:
    return path.stat().st_size
