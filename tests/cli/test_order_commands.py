"""Order and notify commands run by a deployer next to a running gateway, on the same data folder."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.appkeys import DB, MERCHANTS
from agent.settings import Settings
from tests.cli import test_cli
from tests.intake.epay_client import mapi
from tests.support.factories import add_code
from tests.support.gateway import RunningGateway


@pytest.fixture
def env(settings: Settings) -> Iterator[dict[str, str]]:
    assert settings.secret_key is not None
    yield {
        **os.environ,
        "MAPAY_DATA_DIR": str(settings.data_dir),
        "MAPAY_SECRET_KEY": settings.secret_key.get_secret_value(),
    }


async def mapay(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread: the gateway under test shares this event loop and must keep running."""
    return await asyncio.to_thread(test_cli.mapay, env, *args, ok=ok)


async def mapay_json(env: dict[str, str], *args: str) -> Any:
    return await asyncio.to_thread(test_cli.mapay_json, env, *args)


async def _order(gateway: RunningGateway) -> str:
    merchant = await gateway.app[MERCHANTS].create("小店")
    await add_code(gateway.app)
    created = await mapi(gateway, merchant, money="12.34")
    assert created["code"] == 1, created
    return str(created["trade_no"])


async def test_mark_paid_needs_a_reason_and_is_audited(gateway: RunningGateway, env: dict[str, str]) -> None:
    trade_no = await _order(gateway)
    assert (await mapay(env, "order", "mark-paid", trade_no, ok=False)).returncode == 2  # argparse: --reason missing
    paid = await mapay_json(env, "order", "mark-paid", trade_no, "--reason", "客户提供了付款截图")
    assert paid["status"] == "paid" and paid["money"] == "12.34"
    db = gateway.app[DB]
    assert await db.fetchval("SELECT count(*) FROM notify_jobs WHERE trade_no = ?", (trade_no,)) == 1
    audit = await db.fetchone("SELECT actor, action FROM audit_log WHERE target = ?", (trade_no,))
    assert audit is not None and tuple(audit) == ("cli", "order.mark_paid")
    again = await mapay(env, "order", "mark-paid", trade_no, "--reason", "x", ok=False)
    assert again.returncode == 1 and "当前为已支付" in again.stderr


async def test_close_frees_the_order_and_refuses_twice(gateway: RunningGateway, env: dict[str, str]) -> None:
    trade_no = await _order(gateway)
    assert (await mapay_json(env, "order", "close", trade_no, "--reason", "买家取消"))["status"] == "closed"
    assert (await mapay(env, "order", "close", trade_no, ok=False)).returncode == 1
    listed = await mapay_json(env, "order", "list", "--status", "closed")
    assert [o["trade_no"] for o in listed] == [trade_no]
    shown = await mapay_json(env, "order", "show", trade_no)
    assert shown["status"] == "closed" and shown["notify_attempts"] == []


async def test_notify_resend_only_for_paid_orders(gateway: RunningGateway, env: dict[str, str]) -> None:
    trade_no = await _order(gateway)
    refused = await mapay(env, "notify", "resend", trade_no, ok=False)
    assert refused.returncode == 1 and "只有已支付的订单会发送通知" in refused.stderr
    await mapay(env, "order", "mark-paid", trade_no, "--reason", "补单")
    assert await mapay_json(env, "notify", "resend", trade_no) == {"trade_no": trade_no, "queued": True}
    actions = await gateway.app[DB].fetchall("SELECT action FROM audit_log WHERE target = ?", (trade_no,))
    assert [a["action"] for a in actions] == ["order.mark_paid", "notify.resend"]


async def test_backup_is_a_readable_copy(gateway: RunningGateway, env: dict[str, str], tmp_path: Path) -> None:
    trade_no = await _order(gateway)
    result = await mapay_json(env, "backup", str(tmp_path / "copy.sqlite3"))
    assert result["bytes"] > 0
    with sqlite3.connect(tmp_path / "copy.sqlite3") as copy:
        assert copy.execute("SELECT trade_no FROM orders").fetchall() == [(trade_no,)]


async def test_enabling_an_account_clears_its_failed_health(gateway: RunningGateway, env: dict[str, str]) -> None:
    code = await add_code(gateway.app)
    db = gateway.app[DB]
    async with db.transaction() as conn:
        await conn.execute("UPDATE accounts SET health = 'login_failed', health_reason = '密码错误'")
    await mapay(env, "account", "disable", str(code.account_id))
    enabled = await mapay_json(env, "account", "enable", str(code.account_id))
    assert enabled["enabled"] is True and enabled["health"] == "ok" and enabled["health_reason"] is None


async def test_otp_delivery_validates_the_code(gateway: RunningGateway, env: dict[str, str]) -> None:
    code = await add_code(gateway.app, platform="shengpay")
    assert (await mapay(env, "account", "otp", str(code.account_id), "12", ok=False)).returncode == 1
    assert (await mapay(env, "account", "otp", "999", "123456", ok=False)).returncode == 1
    assert (await mapay_json(env, "account", "otp", str(code.account_id), "123456"))["delivered"] is True
    stored = await gateway.app[DB].fetchval("SELECT code_enc FROM account_otps WHERE account_id = ?", (code.account_id,))
    assert stored and "123456" not in stored  # encrypted at rest
