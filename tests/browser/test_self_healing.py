"""Accounts that heal themselves, with real Chromium on a simulated back office: a degraded account comes
back without a person once the back office answers again, and a base URL changed from the CLI is used at
the next read of the running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.db import now_ms
from agent.orders import OrderStatus, get_order
from agent.providers.base import HealthState
from agent.settings import Settings
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import PASSWORD, USERNAME, agent_settings, quick_profiles
from tests.browser.test_full_loop import AgentFactory
from tests.cli.test_cli import mapay_json
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.gateway import RunningGateway, running_gateway

pytestmark = pytest.mark.browser


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return agent_settings(
        tmp_path / "data", profiles_dir=quick_profiles(tmp_path / "profiles"), host="127.0.0.1", port=0,
        poll_interval_seconds=0.3, poll_backoff_max_seconds=1.0, notify_schedule=(0, 1), **overrides,
    )


@asynccontextmanager
async def _gateway(settings: Settings, runtime: BrowserRuntime) -> AsyncIterator[RunningGateway]:
    factory = AgentFactory()
    async with (
        running_gateway(settings, provider_factory=factory) as gateway,
        BrowserAgent(gateway.settings, gateway.app[DB], gateway.app[SECRETS], runtime=runtime) as agent,
    ):
        factory.agent = agent
        yield gateway


async def _health(gateway: RunningGateway, account_id: int) -> HealthState:
    return (await gateway.app[ACCOUNTS].account(account_id)).health


async def _status(gateway: RunningGateway, trade_no: str) -> OrderStatus | None:
    order = await get_order(gateway.app[DB], trade_no)
    return None if order is None else order.status


async def test_a_degraded_account_comes_back_by_itself_once_the_back_office_answers(
    tmp_path: Path, runtime: BrowserRuntime
) -> None:
    settings = _settings(
        tmp_path, probe_backoff_first_seconds=0.5, probe_backoff_max_seconds=2.0, degraded_grace_seconds=0,
        late_payment_grace_seconds=0, expiry_sweep_seconds=0.2,
    )
    async with (
        serve_fixture("shouqianba") as office,
        aiohttp.ClientSession() as http,
        _gateway(settings, runtime) as gateway,
    ):
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        account = await gateway.app[ACCOUNTS].add_account("shouqianba", "门店一", USERNAME, PASSWORD, office.url)
        await gateway.app[CODES].add_code(account.id, payload="https://qr.example/pay/1", terminal_id="T100")
        merchant = await gateway.app[MERCHANTS].create("测试商户")

        await control.fault("http_500", count=1_000_000)  # the back office is down
        first = await mapi(gateway, merchant, money="10.00", out_trade_no="BEFORE")
        assert first["code"] == 1, first
        await eventually(lambda: _is(_health(gateway, account.id), HealthState.DEGRADED), within=30)
        past = now_ms() - (settings.match_skew_seconds + 1) * 1000  # its lifetime passes (the TTL is >= 30 s)
        async with gateway.app[DB].transaction() as conn:
            await conn.execute("UPDATE orders SET expires_at = ? WHERE trade_no = ?", (past, first["trade_no"]))
        await eventually(lambda: _is(_status(gateway, str(first["trade_no"])), OrderStatus.EXPIRED))
        refused = await mapi(gateway, merchant, money="11.00", out_trade_no="DURING")
        assert refused == {"code": -1, "msg": "所有收款账号暂不可用：门店一（收钱吧）无法连接服务商后台"}

        await control.clear_faults()  # the back office is back; nobody touches mapay
        await eventually(lambda: _is(_health(gateway, account.id), HealthState.OK), within=30, interval=0.2)
        after = await mapi(gateway, merchant, money="12.00", out_trade_no="AFTER")
        assert after["code"] == 1, after
        order = await get_order(gateway.app[DB], str(after["trade_no"]))
        assert order is not None
        await control.pay(order.pay_amount_fen, "alipay", "T100")
        await eventually(lambda: _is(_status(gateway, order.trade_no), OrderStatus.PAID), within=30, interval=0.2)


async def test_a_base_url_changed_from_the_cli_is_used_at_the_next_read_without_a_restart(
    tmp_path: Path, runtime: BrowserRuntime
) -> None:
    settings = _settings(tmp_path)
    async with (
        serve_fixture("shouqianba") as old,
        serve_fixture("shouqianba") as new,
        aiohttp.ClientSession() as http,
        _gateway(settings, runtime) as gateway,
    ):
        old_control, new_control = ControlClient(old.url, http), ControlClient(new.url, http)
        for control in (old_control, new_control):
            await control.merchant(USERNAME, PASSWORD)
        account = await gateway.app[ACCOUNTS].add_account("shouqianba", "门店一", USERNAME, PASSWORD, old.url)
        await gateway.app[CODES].add_code(account.id, payload="https://qr.example/pay/1", terminal_id="T100")
        merchant = await gateway.app[MERCHANTS].create("测试商户")
        answer = await mapi(gateway, merchant, money="25.50", out_trade_no="MOVED")
        assert answer["code"] == 1, answer
        await eventually(lambda: _stat(old_control, "transaction_calls"), within=30, interval=0.2)

        env = _cli_env(settings)
        updated = await asyncio.to_thread(mapay_json, env, "account", "update", str(account.id), "--base-url", new.url)
        assert updated["base_url"] == new.url
        order = await get_order(gateway.app[DB], str(answer["trade_no"]))
        assert order is not None
        await new_control.pay(order.pay_amount_fen, "alipay", "T100")  # only the new back office has it
        await eventually(lambda: _is(_status(gateway, order.trade_no), OrderStatus.PAID), within=30, interval=0.2)
        assert (await new_control.stats())["logins"] == 1


def _cli_env(settings: Settings) -> dict[str, str]:
    import os

    assert settings.secret_key is not None
    return {**os.environ, "MAPAY_DATA_DIR": str(settings.data_dir),
            "MAPAY_SECRET_KEY": settings.secret_key.get_secret_value()}


async def _stat(control: ControlClient, name: str) -> int:
    return int((await control.stats())[name])


async def _is(value: object, expected: object) -> bool:
    assert asyncio.iscoroutine(value)
    return await value == expected
