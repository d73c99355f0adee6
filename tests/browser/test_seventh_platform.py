"""A seventh platform is a profile file in the deployer's folder (``MAPAY_PROFILES_DIR``) and nothing else:
no code, no test list, no catalogue. Here 付呗, a back office mapay does not ship, takes an order to a notify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.matching.confirm import match_account, record_transactions
from agent.notify import NOTIFIER
from agent.orders import get_order
from agent.providers.base import Channel
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import PASSWORD, USERNAME, agent_settings
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.gateway import running_gateway
from tests.support.merchant_site import serve_merchant_site

pytestmark = pytest.mark.browser

FUBEI = """\
# 付呗 merchant back office, written by hand from what the browser's developer tools showed.
slug: fubei
name: 付呗
order: 70
base_url: https://e.51fubei.com
min_poll_interval_seconds: 0
hooks: {module: tests.browser.seventh_hooks, values: [shop]}
login:
  steps:
    - goto: /Index/Login/index
    - {fill: "#username", value: "{username}"}
    - {fill: "#password", value: "{password}"}
    - captcha:
        image: {response: "**/Login/verify*"}
        input: "#verifyCode"
        charset: "2345678abcdefhkmnprstxy"
        length: 4
        case: lower
        refresh: "#verify-img"
        attempts: 12
    - click: "#login-submit"
    - wait: {url: "**/User/Index/index*"}
    - hook: read_shop
  success: {element: "#nav-trade"}
  error_selector: "#tip"
session:
  expired: {status: [401]}
transactions:
  api:
    request:
      method: POST
      url: /User/NewFundManagement/tradestats
      form: {start: "{offset}", length: "{page_size}", start_time: "{since:%Y-%m-%d %H:%M:%S}",
             end_time: "{until:%Y-%m-%d %H:%M:%S}"}
    records: data
    total: recordsTotal
    page_size: 5
  include: [{path: order_status, equals: 1}]
  fields:
    trade_no: order_sn
    amount: {path: order_sumprice, unit: yuan}
    channel: {path: pay_type, map: {"1": wxpay, "2": alipay, "3": bank}}
    paid_at: {path: pay_time, format: "%Y-%m-%d %H:%M:%S"}
    terminal_id: device_no
"""


async def test_a_seventh_platform_is_only_a_profile_file(
    tmp_path: Path, runtime: BrowserRuntime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = tmp_path / "my-profiles"
    own.mkdir()
    (own / "fubei.yaml").write_text(FUBEI, encoding="utf-8")
    monkeypatch.setenv("MAPAY_PROFILES_DIR", str(own))  # the only change: a setting and a file
    settings = agent_settings(tmp_path / "data", host="127.0.0.1", port=0)
    assert settings.profiles_dir == own

    async with serve_fixture("fubei") as office, aiohttp.ClientSession() as http, \
            running_gateway(settings) as gateway:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        earlier = [await control.pay(500 + i, "alipay", "T001") for i in range(7)]  # two pages of five before ours
        app = gateway.app
        merchant = await app[MERCHANTS].create("第七家的商户")
        account = await app[ACCOUNTS].add_account("fubei", "付呗门店", USERNAME, PASSWORD, office.url)
        await app[CODES].add_code(account.id, payload="https://qr.example/fubei", terminal_id="T007")
        async with serve_merchant_site(merchant.key) as site:
            created = await mapi(gateway, merchant, notify_url=site.url, money="10.00", type="wxpay")
            assert created["code"] == 1, created
            order = await get_order(app[DB], created["trade_no"])
            assert order is not None
            site.expect(order.out_trade_no, "10.00")
            paid = await control.pay(order.pay_amount_fen, "wxpay", "T007")

            async with BrowserAgent(gateway.settings, app[DB], app[SECRETS], runtime=runtime) as agent:
                provider = agent(await app[ACCOUNTS].credentials(account.id))
                await provider.login()
                now = datetime.now(UTC)
                found = await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))
                saved = await agent.sessions.load(account.id)

            assert {tx.trade_no for tx in found} == {p["trade_no"] for p in [*earlier, paid]}  # offset paging
            [mine] = [tx for tx in found if tx.trade_no == paid["trade_no"]]
            assert (mine.amount_fen, mine.channel, mine.terminal_id) == (order.pay_amount_fen, Channel.WXPAY, "T007")
            await record_transactions(app[DB], account.id, found)
            confirmed = await match_account(app[DB], account.id, skew_ms=30_000, grace_ms=600_000)
            assert [c.trade_no for c in confirmed] == [order.trade_no]
            app[NOTIFIER].wake()
            [notified] = await eventually(lambda: site.acknowledged, within=10)
    assert notified.params["out_trade_no"] == order.out_trade_no and notified.params["money"] == "10.00"
    assert saved is not None and "付呗" in saved.values["shop"]  # the hook's value became a session value
