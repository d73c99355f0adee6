"""``mapay profile check``: every step reported, what was read, or the failing step with its snapshot."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from cryptography.fernet import Fernet

from agent.accounts import AccountBook
from agent.browser.runtime import BrowserRuntime
from agent.crypto import SecretBox
from agent.db import Database
from agent.platforms import sync_platforms
from agent.recorder.check import check_profile
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, runtime

pytestmark = pytest.mark.browser

__all__ = ["runtime"]

USERNAME, PASSWORD = "13800000003", "Check-S3cret!"


async def mapay(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_reports_each_step_and_the_normalized_payments(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    env = {**os.environ, "MAPAY_DATA_DIR": str(tmp_path / "data"), "MAPAY_SECRET_KEY": key.decode()}
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        paid = await control.pay(1234, "wxpay", "T007")
        async with Database(tmp_path / "data" / "mapay.sqlite3") as db:  # the deployer's account, as `account add` makes it
            await sync_platforms(db)
            account = await AccountBook(db, SecretBox(key)).add_account("hkrt", "检查", USERNAME, PASSWORD, office.url)
        code, out, err = await mapay(env, "--json", "profile", "check", "hkrt", "--account", str(account.id))
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["failed_step"] is None and report["snapshot"] is None
    assert [s["step"] for s in report["steps"]] == [
        "login[0].goto(/login)", "login[1].fill(#username)", "login[2].fill(#password)", "login[3].click(#login-btn)",
        "login.success", "session.captures", "transactions"]
    assert {s["status"] for s in report["steps"]} == {"ok"}
    assert report["transactions"] == [{"trade_no": paid["trade_no"], "amount": "12.34", "channel": "wxpay",
                                       "paid_at": report["transactions"][0]["paid_at"], "terminal": "T007"}]
    assert PASSWORD not in out + err


async def test_a_broken_step_is_named_with_a_snapshot_and_open_questions_are_listed(
    tmp_path: Path, runtime: BrowserRuntime,
) -> None:
    shipped = agent_settings(tmp_path).shipped_profiles_dir / "hkrt.yaml"
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["login"]["steps"][2]["fill"] = "#pwd-gone"
    data["login"]["element_timeout_seconds"] = 1
    broken = tmp_path / "profiles" / "hkrt.yaml"
    broken.parent.mkdir()
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    broken.write_text(text.replace("unit: yuan", "unit: yuan  # TODO(maintainer): fen or yuan?"), encoding="utf-8")
    settings = agent_settings(tmp_path / "data", profiles_dir=broken.parent)
    box = SecretBox(settings.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http, \
            Database(settings.database_path) as db:
        await ControlClient(office.url, http).merchant(USERNAME, PASSWORD)
        await sync_platforms(db)
        account = await AccountBook(db, box).add_account("hkrt", "检查", USERNAME, PASSWORD, office.url)
        report = await check_profile(settings, db, box, "hkrt", account.id, runtime=runtime)
    assert not report.ok
    assert report.failed_step == "login[2].fill(#pwd-gone)"
    assert [s.status for s in report.steps] == ["ok", "ok", "failed", *["not reached"] * 4]
    assert "no visible element '#pwd-gone'" in (report.error or "")
    assert report.snapshot is not None and (report.snapshot / "error.json").is_file()
    assert (report.snapshot / "page.html").is_file()
    assert all(PASSWORD not in f.read_text(errors="ignore") for f in report.snapshot.iterdir() if f.suffix != ".png")
    assert report.unresolved == ["fen or yuan?"]
