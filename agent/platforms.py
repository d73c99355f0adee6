"""The provider platforms mapay knows: one per profile file, mirrored into the ``platforms`` table so accounts
can reference them.

A platform is its profile (``profiles/<slug>.yaml``, or the deployer's folder ``MAPAY_PROFILES_DIR``, whose
file wins over a shipped one of the same slug): slug, name and ``has_terminal`` are read from it. Adding a
platform is adding a file; no code lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from agent.db import Database
from agent.db.storage import StorageStatus
from agent.profiles import ProfileError, profile_files, profile_for
from agent.settings import SHIPPED_PROFILES_DIR, Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    slug: str
    name: str
    has_terminal: bool  # whether its transaction records carry the terminal / QR plate id
    order: int = 100
    path: Path | None = None  # the profile file it was read from
    problem: str | None = None  # the file does not load as a profile (its accounts are degraded until fixed)


def _header(path: Path) -> dict[str, Any]:
    """slug, name and has_terminal of a file that does not validate as a whole: the platform still exists."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def read_platforms(dirs: Sequence[Path]) -> tuple[PlatformInfo, ...]:
    """Every platform of the profile folders (the first folder wins a slug), ordered for lists.

    Never raises for a bad file: a file whose name and flag can still be read is a platform with a
    ``problem`` (its accounts are reported degraded with the error); one that cannot is left out and logged.
    """
    found: list[PlatformInfo] = []
    for slug, path in profile_files(dirs).items():
        try:
            profile = profile_for(dirs, slug)
        except ProfileError as exc:
            header = _header(path)
            name, terminal = header.get("name"), header.get("has_terminal", True)
            if not isinstance(name, str) or not name or not isinstance(terminal, bool):
                log.warning("profile_unusable", path=str(path), detail=str(exc))
                continue
            order = header["order"] if isinstance(header.get("order"), int) else 100
            found.append(PlatformInfo(slug, name, terminal, order, path, str(exc)))
            continue
        found.append(PlatformInfo(slug, profile.name, profile.has_terminal, profile.order, path))
    return tuple(sorted(found, key=lambda p: (p.order, p.slug)))


def known_platforms(settings: Settings) -> tuple[PlatformInfo, ...]:
    """The platforms of this deployment: the deployer's profiles and the shipped ones."""
    return read_platforms(settings.profile_dirs)


def shipped_platforms() -> tuple[PlatformInfo, ...]:
    """The platforms whose profiles come with mapay."""
    return read_platforms((SHIPPED_PROFILES_DIR,))


async def sync_platforms(db: Database, platforms: Sequence[PlatformInfo] | None = None) -> int:
    """Mirror the platforms (default: the shipped profiles) into the table: insert new ones, refresh names and
    flags; ids never change and no row is deleted (accounts keep theirs when a file goes). Returns rows written.

    Reads first and writes only what differs: an ordinary start writes nothing, so it succeeds on a full disk.
    """
    if platforms is None:
        platforms = shipped_platforms()
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


async def sync_platforms_soon(db: Database, settings: Settings) -> None:
    """At start: sync now, or, when the storage refuses the write, as soon as it takes writes again."""
    try:
        await sync_platforms(db, known_platforms(settings))
    except Exception as exc:
        if not db.storage.mark_failed(exc):
            raise

        async def retry(status: StorageStatus) -> None:
            if not status.failing:
                unsubscribe()
                await sync_platforms_soon(db, settings)

        unsubscribe = db.storage.on_change(retry)
