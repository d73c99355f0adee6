"""Changes made by another process (the CLI) reach the running gateway at its next read, without a restart."""

from __future__ import annotations

import asyncio
import os

from agent.appkeys import ACCOUNTS
from agent.merchants import Merchant
from tests.cli.test_cli import mapay_json
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.factories import add_code
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import MemoryBackOffice


def _cli_env(gateway: RunningGateway) -> dict[str, str]:
    secret = gateway.settings.secret_key
    assert secret is not None
    return {**os.environ, "MAPAY_DATA_DIR": str(gateway.settings.data_dir), "MAPAY_SECRET_KEY": secret.get_secret_value()}


async def test_disabling_from_the_cli_stops_orders_and_polls(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    assert (await mapi(gateway, merchant, money="9.00"))["code"] == 1
    await eventually(lambda: office.fetches[code.account_id] >= 3)
    disabled = await asyncio.to_thread(mapay_json, _cli_env(gateway), "account", "disable", str(code.account_id))
    assert disabled["enabled"] is False
    await asyncio.sleep(0.3)  # a read already running may finish
    reads = office.fetches[code.account_id]
    await asyncio.sleep(1.0)
    assert office.fetches[code.account_id] == reads
    assert await mapi(gateway, merchant, money="9.50") == {"code": -1, "msg": "所有收款账号暂不可用：测试门店（收钱吧）已停用"}


async def test_new_credentials_from_the_cli_rebuild_the_provider_before_the_next_read(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    assert (await mapi(gateway, merchant, money="9.00"))["code"] == 1
    await eventually(lambda: office.fetches[code.account_id] >= 2)
    assert office.created[code.account_id] == 1
    await asyncio.to_thread(
        mapay_json, _cli_env(gateway), "account", "update", str(code.account_id), "--base-url", "http://127.0.0.1:9/x",
        "--password-stdin", stdin="new-pass\n",
    )
    await eventually(lambda: office.created[code.account_id] == 2)
    rebuilt = office.built_with[code.account_id][-1]
    assert (rebuilt.base_url, rebuilt.password) == ("http://127.0.0.1:9/x", "new-pass")
    reads = office.fetches[code.account_id]
    await eventually(lambda: office.fetches[code.account_id] > reads + 3)
    assert office.created[code.account_id] == 2  # once per change, not per read
    assert (await gateway.app[ACCOUNTS].account(code.account_id)).base_url == "http://127.0.0.1:9/x"
