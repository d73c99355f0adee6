"""``mapay account update`` and ``mapay code update``: change what was set when adding, refuse bad values."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tests.cli.test_cli import cli_env, mapay, mapay_json

__all__ = ["cli_env"]  # the fixture, shared with the lifecycle tests


@contextmanager
def _database(env: dict[str, str]) -> Iterator[sqlite3.Connection]:
    """The CLI's database file, written to directly (committed and closed on leaving)."""
    with closing(sqlite3.connect(Path(env["MAPAY_DATA_DIR"]) / "mapay.sqlite3")) as db, db:
        yield db


def _account(env: dict[str, str]) -> Any:
    return mapay_json(
        env, "account", "add", "--platform", "shouqianba", "--name", "门店一", "--username", "u1",
        "--password-stdin", "--base-url", "http://127.0.0.1:9", stdin="old-pass\n",
    )


def test_account_update_renames_repoints_and_rekeys(cli_env: dict[str, str]) -> None:
    account = _account(cli_env)
    with _database(cli_env) as db:
        db.execute("UPDATE accounts SET health = 'login_failed', health_reason = '密码错误'")
        old_secret = db.execute("SELECT secret_enc FROM accounts").fetchone()[0]

    renamed = mapay_json(cli_env, "account", "update", str(account["id"]), "--name", "门店二")
    assert (renamed["name"], renamed["base_url"], renamed["health"]) == ("门店二", "http://127.0.0.1:9", "login_failed")

    rekeyed = mapay_json(cli_env, "account", "update", str(account["id"]), "--password-stdin", stdin="new-pass\n")
    assert rekeyed["health"] == "ok" and rekeyed["health_reason"] is None  # new credentials: try again
    with _database(cli_env) as db:
        secret = db.execute("SELECT secret_enc FROM accounts").fetchone()[0]
    assert secret != old_secret and "new-pass" not in secret

    assert mapay_json(cli_env, "account", "update", str(account["id"]), "--base-url", "")["base_url"] is None


def test_account_update_refuses_bad_values_and_changes_nothing(cli_env: dict[str, str]) -> None:
    account = _account(cli_env)
    for args, stdin, message in (
        (["--base-url", "ftp://example"], "", "后台地址 'ftp://example' 无效"),
        (["--name", " "], "", "账号名称不能为空"),
        (["--password-stdin"], "\n", "密码不能为空"),
    ):
        result = mapay(cli_env, "account", "update", str(account["id"]), *args, stdin=stdin, ok=False)
        assert result.returncode == 1 and message in result.stderr, result.stderr
    assert mapay_json(cli_env, "account", "list") == [account]
    unknown = mapay(cli_env, "account", "update", "99", "--name", "x", ok=False)
    assert unknown.returncode == 1 and "账号 99 不存在" in unknown.stderr


def test_code_update_changes_label_terminal_and_cap(cli_env: dict[str, str]) -> None:
    account = _account(cli_env)
    code = mapay_json(cli_env, "code", "add", "--account", str(account["id"]), "--payload", "https://qr.example/1")
    code_id = str(code["id"])
    updated = mapay_json(cli_env, "code", "update", code_id, "--label", "左收银台", "--terminal", "T9", "--daily-cap", "500")
    assert (updated["label"], updated["terminal_id"], updated["daily_cap_fen"]) == ("左收银台", "T9", 50_000)
    cleared = mapay_json(cli_env, "code", "update", code_id, "--daily-cap", "none", "--terminal", "")
    assert (cleared["label"], cleared["terminal_id"], cleared["daily_cap_fen"]) == ("左收银台", None, None)

    bad = mapay(cli_env, "code", "update", code_id, "--daily-cap", "0", "--label", "x", ok=False)
    assert bad.returncode == 1 and "--daily-cap" in bad.stderr
    assert mapay_json(cli_env, "code", "list") == [cleared]
    assert mapay(cli_env, "code", "update", "99", "--label", "x", ok=False).returncode == 1


def test_terminal_id_stays_while_the_code_has_pending_orders(cli_env: dict[str, str]) -> None:
    account = _account(cli_env)
    code = mapay_json(
        cli_env, "code", "add", "--account", str(account["id"]), "--payload", "https://qr.example/2", "--terminal", "T1"
    )
    merchant = mapay_json(cli_env, "merchant", "add", "小店")
    with _database(cli_env) as db:
        db.execute(
            "INSERT INTO orders (trade_no, pid, out_trade_no, type, name, money_fen, pay_amount_fen, code_id, "
            "account_id, scope, status, created_at, expires_at, param, notify_url) VALUES "
            "('T1', ?, 'M1', 'alipay', '商品', 100, 100, ?, ?, ?, 'pending', 0, 1, '', 'http://127.0.0.1:9/n')",
            (merchant["pid"], code["id"], account["id"], f"a{account['id']}:tT1"),
        )
    busy = mapay(cli_env, "code", "update", str(code["id"]), "--terminal", "T2", ok=False)
    assert busy.returncode == 1 and "还有待支付的订单" in busy.stderr
    assert mapay_json(cli_env, "code", "update", str(code["id"]), "--label", "仍可改备注")["terminal_id"] == "T1"
