"""Platforms are profile files: the deployer's folder adds platforms and wins a slug over the shipped one."""

from __future__ import annotations

from pathlib import Path

import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.db import Database
from agent.platforms import known_platforms, sync_platforms
from agent.profiles import profile_for
from agent.settings import SHIPPED_PROFILES_DIR, Settings


def settings_with(own: Path | None, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", profiles_dir=own,  # type: ignore[call-arg]
                    secret_key=SecretStr(Fernet.generate_key().decode()))


def copy_of(source: str, folder: Path, **changes: object) -> Path:
    data = yaml.safe_load((SHIPPED_PROFILES_DIR / f"{source}.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['slug']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def test_a_file_in_the_deployers_folder_is_a_platform_and_wins_over_the_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "own"
    copy_of("hkrt", own, slug="fubei", name="付呗", order=5)
    copy_of("hkrt", own, name="码钱（修正版）")
    settings = settings_with(own, tmp_path)
    platforms = known_platforms(settings)
    assert [p.slug for p in platforms] == ["fubei", "shouqianba", "hkrt", "ysepay", "zhihui", "lakala", "shengpay"]
    assert {p.slug: p.name for p in platforms}["hkrt"] == "码钱（修正版）"
    assert profile_for(settings.profile_dirs, "hkrt").name == "码钱（修正版）"
    assert profile_for(settings.profile_dirs, "ysepay").name == "小Y经营"  # the shipped one still serves
    async with Database(tmp_path / "db.sqlite3") as db:
        assert await sync_platforms(db, platforms) == 7
        assert await sync_platforms(db, platforms) == 0  # nothing changed: nothing written (full disk)
        rows = await db.fetchall("SELECT slug, name, has_terminal FROM platforms ORDER BY id")
    assert ("fubei", "付呗", 1) in [tuple(r) for r in rows]


def test_has_terminal_defaults_to_whether_records_carry_a_terminal(tmp_path: Path) -> None:
    data = yaml.safe_load((SHIPPED_PROFILES_DIR / "hkrt.yaml").read_text(encoding="utf-8"))
    del data["has_terminal"], data["transactions"]["fields"]["terminal_id"]
    data["slug"] = "noterm"
    (tmp_path / "noterm.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    [platform] = [p for p in known_platforms(settings_with(tmp_path, tmp_path)) if p.slug == "noterm"]
    assert platform.has_terminal is False and platform.problem is None


def test_a_broken_file_is_still_a_platform_with_its_problem_and_never_stops_the_list(tmp_path: Path) -> None:
    path = copy_of("hkrt", tmp_path / "own", slug="broken", name="坏的")
    path.write_text(path.read_text(encoding="utf-8").replace("unit: yuan", "unit: jiao"), encoding="utf-8")
    (tmp_path / "own" / "garbage.yaml").write_text("{{ not yaml", encoding="utf-8")
    platforms = {p.slug: p for p in known_platforms(settings_with(tmp_path / "own", tmp_path))}
    assert "garbage" not in platforms  # no name to show: left out (and logged)
    assert platforms["broken"].name == "坏的"
    assert "transactions.fields.amount.unit" in (platforms["broken"].problem or "")
    assert len(platforms) == 7
