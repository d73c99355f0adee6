"""A seventh platform needs a profile file (and, for what YAML cannot say, a hook module): no engine change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml

from agent.accounts import AccountBook
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.crypto import SecretBox
from agent.db import Database
from agent.platforms import PlatformInfo, sync_platforms
from agent.settings import Settings
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import PASSWORD, USERNAME, agent_settings

pytestmark = pytest.mark.browser


def seventh_profile(folder: Path) -> Path:
    """The 码钱 back office described again under a new slug, with a hook step whose value goes in the request body."""
    data = yaml.safe_load((Settings.model_fields["profiles_dir"].default / "hkrt.yaml").read_text(encoding="utf-8"))
    data.update(slug="seventh", name="第七家", min_poll_interval_seconds=0,
                hooks={"module": "tests.browser.seventh_hooks", "values": ["shop"]})
    data["login"]["steps"] += [{"wait": {"element": "#tx-table"}}, {"hook": "read_shop"}]
    data["login"]["success"] = {"element": "#tx-table"}
    data["transactions"]["api"]["request"]["json"]["storeId"] = "{shop}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seventh.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


async def test_a_seventh_platform_is_only_a_profile(tmp_path: Path, runtime: BrowserRuntime) -> None:
    settings = agent_settings(tmp_path / "data", profiles_dir=seventh_profile(tmp_path / "profiles"))
    box = SecretBox(settings.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
    async with (
        serve_fixture("hkrt") as office,
        aiohttp.ClientSession() as http,
        Database(settings.database_path) as db,
    ):
        await sync_platforms(db, (PlatformInfo("seventh", "第七家", True),))
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        account = await AccountBook(db, box).add_account("seventh", "七", USERNAME, PASSWORD, office.url)
        payment = await control.pay(1234, "wxpay", "T7")
        async with BrowserAgent(settings, db, box, runtime=runtime) as agent:
            provider = agent(await AccountBook(db, box).credentials(account.id))
            await provider.login()
            now = datetime.now(UTC)
            found = await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))
        saved = await agent.sessions.load(account.id)
    assert [(tx.trade_no, tx.amount_fen) for tx in found] == [(payment["trade_no"], 1234)]
    assert saved is not None and "码钱" in saved.values["shop"]  # the hook's value became a session value
