"""A writer cancelled at any point of its transaction leaves the shared connection usable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.db import Database


@pytest.mark.parametrize("yields_before_cancel", [0, 1, 2, 3, 5, 8])
async def test_a_cancelled_writer_never_leaves_the_connection_inside_a_transaction(
    tmp_path: Path, yields_before_cancel: int
) -> None:
    async with Database(tmp_path / "db.sqlite3") as db:

        async def writer() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO audit_log (at, actor, action) VALUES (1, 'test', 'cancelled')")

        task = asyncio.create_task(writer())
        for _ in range(yields_before_cancel):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        async with db.transaction() as conn:
            await conn.execute("INSERT INTO audit_log (at, actor, action) VALUES (2, 'test', 'after')")
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'after'") == 1
