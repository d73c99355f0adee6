"""The provider platforms mapay knows, kept in the ``platforms`` table so accounts can reference them."""

from __future__ import annotations

from dataclasses import dataclass

from agent.db import Database


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


async def sync_platforms(db: Database, platforms: tuple[PlatformInfo, ...] = CATALOGUE) -> None:
    """Insert new platforms and refresh names; ids of existing platforms never change."""
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO platforms (slug, name, has_terminal) VALUES (?, ?, ?) "
            "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, has_terminal = excluded.has_terminal",
            [(p.slug, p.name, int(p.has_terminal)) for p in platforms],
        )
