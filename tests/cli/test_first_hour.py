"""The CLI a deployer meets in the first hour: where its data is, what it says, what it checks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from agent.settings import CHECKOUT_ROOT, Settings
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.cli.test_cli import mapay, mapay_json
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAPAY_")}
    return {**clean, "MAPAY_DATA_DIR": str(tmp_path / "data"), "MAPAY_SECRET_KEY": Fernet.generate_key().decode()}


def test_a_checkout_keeps_its_data_in_the_project_whatever_the_current_directory(tmp_path: Path) -> None:
    assert CHECKOUT_ROOT == ROOT
    env = {k: v for k, v in os.environ.items() if k != "MAPAY_DATA_DIR"}
    code = "from agent.settings import Settings; print(Settings().data_dir)"
    printed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, check=True).stdout.strip()
    assert printed == str(ROOT / "data")
    assert Settings(_env_file=None, data_dir=tmp_path).data_dir == tmp_path  # type: ignore[call-arg]


def test_scripts_mapay_uses_the_project_data_folder_from_any_directory(tmp_path: Path) -> None:
    text = (ROOT / "scripts" / "mapay").read_text()
    assert 'MAPAY_DATA_DIR="${MAPAY_DATA_DIR:-$ROOT/data}"' in text and "readlink -f" in text
    assert 'MAPAY_DATA_DIR="${MAPAY_DATA_DIR:-$ROOT/data}"' in (ROOT / "scripts" / "run").read_text()


def test_a_new_database_is_announced_once(cli_env: dict[str, str], tmp_path: Path) -> None:
    first = mapay(cli_env, "merchant", "list")
    assert "没有数据库，已新建" in first.stderr and str(tmp_path / "data") in first.stderr
    assert "没有数据库" not in mapay(cli_env, "merchant", "list").stderr


def test_code_list_says_never_used_instead_of_zero(cli_env: dict[str, str]) -> None:
    account = mapay_json(cli_env, "account", "add", "--platform", "shouqianba", "--name", "门店一", "--username", "u",
                         "--password-stdin", stdin="pw\n")
    mapay(cli_env, "code", "add", "--account", str(account["id"]), "--payload", "https://qr.example/a")
    lines = mapay(cli_env, "code", "list").stdout.splitlines()
    assert "从未使用" in lines[1] and "last_used_at" not in lines[0]


def test_doctor_on_a_fresh_folder_creates_nothing_and_says_what_to_do(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "MAPAY_PORT": str(free_port())}
    result = mapay(env, "doctor", ok=False)
    assert result.returncode == 1
    assert not (tmp_path / "data").exists()
    lines = result.stdout.splitlines()
    assert any(line.startswith("✗ 数据库") for line in lines)
    assert any(line.startswith("✓ Chromium 浏览器") for line in lines)
    assert any(line.startswith("✗ 网关运行中") for line in lines)
    checks = json.loads(mapay(env, "--json", "doctor", ok=False).stdout)
    assert {c["title"] for c in checks} >= {"数据目录", "数据库", "加密密钥", "Chromium 浏览器", "对外地址", "告警通知"}
    assert all(c["fix"] for c in checks if not c["ok"])


def test_doctor_names_each_account_problem_with_its_fix(cli_env: dict[str, str]) -> None:
    mapay(cli_env, "merchant", "add", "店")
    mapay_json(cli_env, "account", "add", "--platform", "shouqianba", "--name", "门店一", "--username", "u",
               "--password-stdin", "--base-url", "http://127.0.0.1:9", stdin="pw\n")
    out = mapay({**cli_env, "MAPAY_PORT": str(free_port())}, "doctor", ok=False).stdout
    assert "✗ 账号 #1 门店一：登录正常，但没有启用的收款码" in out and "code add --account 1" in out
    assert "✗ 管理后台" in out and "admin create" in out


def test_try_without_a_running_gateway_says_to_start_it(cli_env: dict[str, str]) -> None:
    result = mapay({**cli_env, "MAPAY_PORT": str(free_port())}, "try", ok=False)
    assert result.returncode == 2 and "网关没有运行" in result.stderr and "./scripts/run" in result.stderr


@pytest.mark.browser
async def test_account_test_prints_each_login_step_as_it_happens(cli_env: dict[str, str]) -> None:
    """A person at the terminal sees where a slow or failing login is: every step of the profile, in order."""
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http:
        await ControlClient(office.url, http).merchant("13800000001", "S3cret-pass!")
        account = await asyncio.to_thread(
            mapay_json, cli_env, "account", "add", "--platform", "hkrt", "--name", "一号店", "--username",
            "13800000001", "--password-stdin", "--base-url", office.url, stdin="S3cret-pass!\n",
        )
        result = await asyncio.to_thread(mapay, cli_env, "account", "test", str(account["id"]))
    progress = result.stderr
    labels = [line.strip().removeprefix("· ") for line in progress.splitlines() if line.strip().startswith("·")]
    assert labels and labels[0].startswith("login[0]") and all(label.startswith("login[") for label in labels)
    indexes = [int(label[len("login["):label.index("]")]) for label in labels]
    assert indexes == sorted(indexes)
    assert "登录成功" in progress
