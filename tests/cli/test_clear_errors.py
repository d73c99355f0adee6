"""Mistakes a deployer makes get one Chinese line saying what is wrong and how to fix it, and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.cli.test_cli import cli_env, mapay, mapay_json  # noqa: F401  (cli_env is a fixture)
from tests.ops.served import SOURCE_ROOT

UNPRIVILEGED_UID = 10001  # the container's user


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("错误："), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [("merchant", "list"), ("order", "list"), ("serve",)])
def test_a_setting_out_of_range_names_the_variable_and_its_range(
    cli_env: dict[str, str], command: Sequence[str]  # noqa: F811
) -> None:
    line = _one_clear_line(mapay(cli_env | {"MAPAY_ORDER_TTL_SECONDS": "20"}, *command, ok=False))
    assert "MAPAY_ORDER_TTL_SECONDS=20" in line and "30" in line and "86400" in line
    assert "pydantic" not in line


def test_settings_that_are_not_numbers_or_not_a_choice_are_explained(cli_env: dict[str, str]) -> None:  # noqa: F811
    line = _one_clear_line(mapay(cli_env | {"MAPAY_PORT": "eighty"}, "merchant", "list", ok=False))
    assert "MAPAY_PORT=eighty" in line and "整数" in line
    line = _one_clear_line(mapay(cli_env | {"MAPAY_OFFSET_DIRECTION": "sideways"}, "merchant", "list", ok=False))
    assert "MAPAY_OFFSET_DIRECTION" in line and "down" in line and "both" in line
    line = _one_clear_line(mapay(cli_env | {"MAPAY_TRUSTED_PROXIES": "10.0.0.0/33"}, "merchant", "list", ok=False))
    assert "MAPAY_TRUSTED_PROXIES" in line


def test_adding_an_account_that_exists_names_the_existing_account(cli_env: dict[str, str]) -> None:  # noqa: F811
    add = ("account", "add", "--platform", "shouqianba", "--name", "门店", "--username", "13800000000")
    first = mapay_json(cli_env, *add, "--password-stdin", stdin="pw\n")
    line = _one_clear_line(mapay(cli_env, *add, "--password-stdin", stdin="pw\n", ok=False))
    assert f"#{first['id']}" in line and "13800000000" in line and "mapay account update" in line
    assert "IntegrityError" not in line


def test_an_unknown_platform_lists_the_known_ones(cli_env: dict[str, str]) -> None:  # noqa: F811
    result = mapay(
        cli_env, "account", "add", "--platform", "alipay", "--name", "x", "--username", "u", "--password-stdin",
        stdin="pw\n", ok=False,
    )
    line = _one_clear_line(result)
    assert "alipay" in line and "shouqianba" in line and "mapay platform list" in line


def test_an_invalid_secret_key_is_explained(cli_env: dict[str, str]) -> None:  # noqa: F811
    line = _one_clear_line(mapay(cli_env | {"MAPAY_SECRET_KEY": "not-a-key"}, "merchant", "list", ok=False))
    assert "MAPAY_SECRET_KEY" in line


def test_a_wrong_secret_key_is_explained(cli_env: dict[str, str]) -> None:  # noqa: F811
    mapay_json(cli_env, "merchant", "add", "小店")
    from cryptography.fernet import Fernet

    other = cli_env | {"MAPAY_SECRET_KEY": Fernet.generate_key().decode()}
    line = _one_clear_line(mapay(other, "merchant", "list", ok=False))
    assert "MAPAY_SECRET_KEY" in line and "解密" in line


def _as_unprivileged(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run mapay without the right to write into folders it does not own (root without DAC override)."""
    command = [sys.executable, "-m", "agent", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file-permission override")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]
    env = env | {"PYTHONPATH": str(SOURCE_ROOT)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [("merchant", "list"), ("serve",)])
def test_an_unwritable_data_folder_names_the_folder_and_the_owner_it_needs(
    tmp_path: Path, cli_env: dict[str, str], command: Sequence[str]  # noqa: F811
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if os.geteuid() == 0:
        os.chown(data, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    data.chmod(0o755)
    tmp_path.chmod(0o755)
    try:
        line = _one_clear_line(_as_unprivileged(cli_env | {"MAPAY_DATA_DIR": str(data)}, *command))
    finally:
        data.chmod(0o755)
    assert str(data) in line and "chown" in line and "MAPAY_DATA_DIR" in line


def test_an_unreadable_secret_key_file_names_the_file(tmp_path: Path, cli_env: dict[str, str]) -> None:  # noqa: F811
    env = {k: v for k, v in cli_env.items() if k != "MAPAY_SECRET_KEY"}
    mapay_json(env, "merchant", "add", "小店")  # generates data/secret.key
    key = tmp_path / "data" / "secret.key"
    if os.geteuid() == 0:
        os.chown(key, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    tmp_path.chmod(0o755)
    key.chmod(0o600)
    line = _one_clear_line(_as_unprivileged(env, "merchant", "list"))
    assert str(key) in line and ("chown" in line or "chmod" in line)
