"""The app as ``mapay serve`` builds it: with no provider factory given, the browser agent reads accounts."""

from __future__ import annotations

import aiohttp
import pytest

from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS
from agent.browser.agent import BROWSER_AGENT
from agent.orders import OrderStatus, get_order
from agent.settings import Settings
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import PASSWORD, USERNAME
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.gateway import running_gateway
from tests.support.merchant_site import serve_merchant_site

pytestmark = pytest.mark.browser


async def test_default_app_confirms_through_the_browser_agent(settings: Settings) -> None:
    settings = settings.model_copy(update={"browser_agent": True, "poll_interval_seconds": 0.5})
    async with (
        serve_fixture("shouqianba") as office,
        aiohttp.ClientSession() as http,
        running_gateway(settings) as gateway,
    ):
        assert BROWSER_AGENT in gateway.app
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        account = await gateway.app[ACCOUNTS].add_account("shouqianba", "门店", USERNAME, PASSWORD, office.url)
        await gateway.app[CODES].add_code(account.id, payload="https://qr.example/1", terminal_id="T9")
        merchant = await gateway.app[MERCHANTS].create("商户")
        async with serve_merchant_site(merchant.key) as site:
            answer = await mapi(gateway, merchant, notify_url=site.url, money="8.80", out_trade_no="DEFAULT-1")
            assert answer["code"] == 1, answer
            site.expect("DEFAULT-1", "8.80")
            order = await get_order(gateway.app[DB], answer["trade_no"])
            assert order is not None
            await control.pay(order.pay_amount_fen, "alipay", "T9")
            await eventually(lambda: site.acknowledged, within=60, interval=0.2)
        paid = await get_order(gateway.app[DB], order.trade_no)
        assert paid is not None and paid.status is OrderStatus.PAID


async def test_switching_the_agent_off_leaves_no_browser(settings: Settings) -> None:
    async with running_gateway(settings) as gateway:  # the suite's settings switch it off
        assert BROWSER_AGENT not in gateway.app
