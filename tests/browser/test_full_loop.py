"""The whole way, per platform: a mapi.php order, the payer pays the exact amount on the simulated back
office, the browser agent reads it, mapay confirms, and the merchant site gets a valid signed notify."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from agent.accounts.otp import deliver_otp
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.orders import OrderStatus, get_order
from agent.providers.base import AccountCredentials, HealthState, Provider
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import PASSWORD, PLATFORMS, USERNAME, agent_settings, quick_profiles
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.merchant_site import serve_merchant_site

pytestmark = pytest.mark.browser


class AgentFactory:
    """The ProviderFactory handed to the app; the agent is attached once the app's database is open."""

    agent: BrowserAgent | None = None

    def __call__(self, account: AccountCredentials) -> Provider:
        assert self.agent is not None
        return self.agent(account)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_order_paid_on_the_back_office_is_confirmed_and_notified(
    platform: str, tmp_path: Path, runtime: BrowserRuntime
) -> None:
    settings = agent_settings(
        tmp_path / "data", profiles_dir=quick_profiles(tmp_path / "profiles"), host="127.0.0.1", port=0,
        poll_interval_seconds=0.3, poll_backoff_max_seconds=1.0, notify_schedule=(0, 1),
    )
    factory = AgentFactory()
    async with (
        serve_fixture(platform) as office,
        aiohttp.ClientSession() as http,
        running_gateway(settings, provider_factory=factory) as gateway,
        BrowserAgent(gateway.settings, gateway.app[DB], gateway.app[SECRETS], runtime=runtime) as agent,
    ):
        factory.agent = agent
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        pool = gateway.app[CODES]
        account = await gateway.app[ACCOUNTS].add_account(platform, "收款账户", USERNAME, PASSWORD, office.url)
        await pool.add_code(account.id, payload="https://qr.example/pay/1", terminal_id="T100")
        merchant = await gateway.app[MERCHANTS].create("测试商户")
        async with serve_merchant_site(merchant.key) as site:
            answer = await mapi(gateway, merchant, notify_url=site.url, money="25.50", out_trade_no="ORDER-1")
            assert answer["code"] == 1, answer
            site.expect("ORDER-1", "25.50")
            order = await get_order(gateway.app[DB], answer["trade_no"])
            assert order is not None
            if platform == "shengpay":  # the person reads the SMS and types the code once
                await eventually(lambda: _health(gateway, account.id, HealthState.NEEDS_HUMAN), within=30)
                await deliver_otp(gateway.app[DB], gateway.app[SECRETS], account.id, await control.otp(USERNAME))
            await control.pay(order.pay_amount_fen - 1, "alipay", "T100")  # someone else's payment
            payment = await control.pay(order.pay_amount_fen, "alipay", "T100")
            received = await eventually(lambda: site.acknowledged, within=60, interval=0.2)
        paid = await get_order(gateway.app[DB], order.trade_no)
    assert received[0].params["trade_no"] == order.trade_no and received[0].params["money"] == "25.50"
    assert paid is not None and paid.status is OrderStatus.PAID
    assert paid.provider_trade_no == payment["trade_no"]


async def _health(gateway: RunningGateway, account_id: int, state: HealthState) -> bool:
    return (await gateway.app[ACCOUNTS].account(account_id)).health == state
