"""The provider platforms mapay knows, kept in the ``platforms`` table so accounts can reference them."""

from __future__ import annotations

from dataclasses import dataclass

from agent.db import Database
from agent.db.storage import StorageStatus


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    slug: str
    name: str
    has_terminal: bool  # whether its transaction records carry the terminal / QR plate id


CATALOGUE = (
    PlatformInfo("shouqianba", "收钱吧", True),
    PlatformInfo("hkrt", "码钱", True),
    PlatformInfo("ysepay", "小Y经营", True),
    PlatformInfo("zhihui", "数字门店", True),
    PlatformInfo("lakala", "拉卡拉", True),
    PlatformInfo("shengpay", "盛付通", True),
)


async def sync_platforms(db: Database, platforms: tuple[PlatformInfo, ...] = CATALOGUE) -> int:
    """Insert new platforms and refresh names; ids of existing platforms never change. Returns rows written.

    Reads first and writes only what differs: an ordinary start writes nothing, so it succeeds on a full disk.
    """
    rows = await db.fetchall("SELECT slug, name, has_terminal FROM platforms")
    stored = {row[0]: (row[1], bool(row[2])) for row in rows}
    changed = [p for p in platforms if stored.get(p.slug) != (p.name, p.has_terminal)]
    if not changed:
        return 0
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO platforms (slug, name, has_terminal) VALUES (?, ?, ?) "
            "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, has_terminal = excluded.has_terminal",
            [(p.slug, p.name, int(p.has_terminal)) for p in changed],
        )
    return len(changed)


async def sync_platforms_soon(db: Database) -> None:
    """At start: sync now, or, when the storage refuses the write, as soon as it takes writes again."""
    try:
        await sync_platforms(db)
    except Exception as exc:
        if not db.storage.mark_failed(exc):
            raise

        async def retry(status: StorageStatus) -> None:
            if not status.failing:
                unsubscribe()
                await sync_platforms_soon(db)

        unsubscribe = db.storage.on_change(retry)
