"""The CLI as a deployer uses it: a real subprocess against a real data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from agent.settings import SHIPPED_PROFILES_DIR


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAPAY_DATA_DIR": str(tmp_path / "data"),
        "MAPAY_SECRET_KEY": Fernet.generate_key().decode(),
    }


def mapay(env: dict[str, str], *args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "agent", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def mapay_json(env: dict[str, str], *args: str, stdin: str = "") -> Any:
    return json.loads(mapay(env, "--json", *args, stdin=stdin).stdout)


def test_merchant_account_and_code_lifecycle(cli_env: dict[str, str], tmp_path: Path) -> None:
    merchant = mapay_json(cli_env, "merchant", "add", "小店")
    assert merchant["pid"] >= 1 and len(merchant["key"]) == 32
    listed = mapay_json(cli_env, "merchant", "list")
    assert listed == [{"pid": merchant["pid"], "name": "小店", "enabled": True}]  # the key is never listed
    rotated = mapay_json(cli_env, "merchant", "rotate-key", str(merchant["pid"]))
    assert rotated["key"] != merchant["key"]

    account = mapay_json(
        cli_env, "account", "add", "--platform", "shouqianba", "--name", "门店一", "--username", "u1",
        "--password-stdin", stdin="s3cret-pass\n",
    )
    assert account["platform"] == "shouqianba" and account["health"] == "ok"
    code = mapay_json(
        cli_env, "code", "add", "--account", str(account["id"]), "--payload", "https://qr.example/abc",
        "--terminal", "T1", "--daily-cap", "500",
    )
    assert code["daily_cap_fen"] == 50000 and code["terminal_id"] == "T1"
    assert mapay_json(cli_env, "code", "disable", str(code["id"]))["enabled"] is False
    assert mapay_json(cli_env, "account", "disable", str(account["id"]))["enabled"] is False

    # Secrets are encrypted at rest: neither the password nor the merchant key is in the database file.
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("mapay.sqlite3*"))
    assert b"s3cret-pass" not in raw
    assert rotated["key"].encode() not in raw and merchant["key"].encode() not in raw


def test_platform_list_names_every_profile(cli_env: dict[str, str]) -> None:
    slugs = {p["slug"] for p in mapay_json(cli_env, "platform", "list")}
    assert slugs == {path.stem for path in SHIPPED_PROFILES_DIR.glob("*.yaml")}


def test_a_profile_in_the_deployers_folder_is_a_platform_accounts_can_use(cli_env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    text = (SHIPPED_PROFILES_DIR / "hkrt.yaml").read_text(encoding="utf-8")
    (own / "fubei.yaml").write_text(text.replace("slug: hkrt", "slug: fubei").replace("name: 码钱", "name: 付呗"),
                                    encoding="utf-8")
    env = {**cli_env, "MAPAY_PROFILES_DIR": str(own)}
    listed = {p["slug"]: p for p in mapay_json(env, "platform", "list")}
    assert listed["fubei"]["name"] == "付呗" and listed["fubei"]["profile"] == str(own / "fubei.yaml")
    account = mapay_json(env, "account", "add", "--platform", "fubei", "--name", "七", "--username", "u7",
                         "--password-stdin", stdin="pw\n")
    assert account["platform"] == "fubei"


def test_errors_are_clear_and_nonzero(cli_env: dict[str, str]) -> None:
    result = mapay(cli_env, "merchant", "rotate-key", "999", ok=False)
    assert result.returncode == 1 and "商户 999 不存在" in result.stderr
    result = mapay(cli_env, "code", "add", "--account", "42", "--payload", "x", ok=False)
    assert result.returncode == 1 and "账号 42 不存在" in result.stderr
    result = mapay(cli_env, "order", "show", "nope", ok=False)
    assert result.returncode == 1


def test_a_missing_row_is_one_chinese_line(cli_env: dict[str, str]) -> None:
    """What the deployer reads when an id names nothing: 错误： and the Chinese reason, no English headline."""
    for args, message in (
        (["order", "show", "nope"], "订单 nope 不存在"),
        (["account", "retry", "42"], "账号 42 不存在"),
        (["code", "enable", "7"], "收款码 7 不存在"),
        (["transaction", "dismiss", "9", "--reason", "x"], "收款流水 9 不存在"),
    ):
        result = mapay(cli_env, *args, ok=False)
        lines = [line for line in result.stderr.splitlines() if not line.startswith("注意：")]  # new database
        assert result.returncode == 1 and lines == [f"错误：{message}"], result.stderr


def test_order_list_is_empty_on_a_new_database(cli_env: dict[str, str]) -> None:
    assert mapay_json(cli_env, "order", "list") == []


def test_record_help_says_a_machine_without_a_display_gets_a_live_view_url(cli_env: dict[str, str]) -> None:
    text = " ".join(mapay(cli_env, "record", "--help").stdout.split())
    assert "one-time http://127.0.0.1 URL" in text and "--port" in text
    assert "needs a desktop" not in text
