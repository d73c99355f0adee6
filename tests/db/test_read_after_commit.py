"""A read that starts after a commit sees it, however many other reads are in flight at the same time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.db import Database


async def test_reads_see_every_commit_while_other_reads_overlap(tmp_path: Path) -> None:
    async with Database(tmp_path / "db.sqlite3") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)")
            await conn.executemany("INSERT INTO t (pad) VALUES (?)", [("x" * 100,)] * 500)
        stop = asyncio.Event()

        async def busy_reader() -> None:
            while not stop.is_set():
                await db.fetchone("SELECT id FROM t ORDER BY id")  # many rows, only the first is taken

        readers = [asyncio.create_task(busy_reader()) for _ in range(4)]
        try:
            for expected in range(501, 561):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO t (pad) VALUES ('new')")
                assert await db.fetchval("SELECT count(*) FROM t") == expected
        finally:
            stop.set()
            await asyncio.gather(*readers)
