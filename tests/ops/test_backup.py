"""Online backup of a database that keeps being written while the copy is taken."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent.appkeys import DB, MERCHANTS
from agent.ops.backup import backup
from tests.support.gateway import RunningGateway


def _merchant_names(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return [row[0] for row in conn.execute("SELECT name FROM merchants ORDER BY pid")]


async def test_backup_while_writes_continue_is_a_consistent_copy(gateway: RunningGateway, tmp_path: Path) -> None:
    book, db = gateway.app[MERCHANTS], gateway.app[DB]
    for n in range(50):
        await book.create(f"before-{n}")
    stop = asyncio.Event()

    async def keep_writing() -> int:
        written = 0
        while not stop.is_set():
            await book.create(f"during-{written}")
            written += 1
            await asyncio.sleep(0)
        return written

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    target = tmp_path / "backups" / "mapay.sqlite3"
    assert await backup(db, target) == target
    during_backup = await db.fetchval("SELECT count(*) FROM merchants")
    await asyncio.sleep(0.05)
    stop.set()
    written = await writer

    names = await asyncio.to_thread(_merchant_names, target)
    assert names[:50] == [f"before-{n}" for n in range(50)]
    assert 50 < len(names) <= during_backup  # writes before the copy are in it, nothing is half-written
    assert names[50:] == [f"during-{n}" for n in range(len(names) - 50)]  # a prefix: one committed state
    assert written > len(names) - 50  # writing went on while and after the copy was taken
    assert not list(target.parent.glob(".*partial"))


async def test_backup_skips_an_open_transaction_and_replaces_an_old_copy(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    db = gateway.app[DB]
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(b"an older, unrelated file")
    await gateway.app[MERCHANTS].create("committed")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO merchants (name, key_enc, created_at) VALUES ('uncommitted', 'x', 0)")
        await asyncio.wait_for(backup(db, target), timeout=10)  # the open write does not block the copy
    assert await asyncio.to_thread(_merchant_names, target) == ["committed"]
