"""``mapay demo`` as a newcomer uses it, in real Chromium: order on /demo, the cashier opens, "模拟付款",
the browser agent confirms, the cashier returns to the shop's verified 支付成功 page, the notify arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import Page, expect

from agent.demo import Demo, running_demo
from agent.orders import OrderStatus, get_order
from agent.settings import Settings
from agent.timefmt import SHANGHAI
from fixtures.server import PLATFORMS
from tests.support.net import free_port_block

pytestmark = pytest.mark.browser

CONFIRMED_WITHIN_MS = 60_000  # a first login (captcha OCR retries) on a loaded machine, then the cashier's poll


OFFICE_PORTS = free_port_block(len(PLATFORMS))


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[Demo]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    async with running_demo(settings, port=0, office_ports=OFFICE_PORTS) as running:
        yield running


def test_the_back_offices_listen_on_the_ports_asked_for(demo: Demo) -> None:
    assert [demo.offices[name].port for name in PLATFORMS] == list(range(OFFICE_PORTS, OFFICE_PORTS + 6))


@pytest.mark.parametrize(("platform", "pay_type", "money"), [
    ("shouqianba", "alipay", "9.90"),  # no captcha
    ("ysepay", "wxpay", "23.45"),  # image captcha read by OCR
    ("shengpay", "bank", "0.50"),  # SMS code, read by the demo's SmsReader
])
async def test_simulated_payment_flips_the_cashier_to_paid_and_notifies_the_shop(
    demo: Demo, page: Page, platform: str, pay_type: str, money: str
) -> None:
    await page.goto(demo.page_url)
    await page.fill("#money", money)
    await page.fill("#name", "演示商品")
    await page.select_option("#type", pay_type)
    await page.select_option("#platform", platform)
    async with page.context.expect_page() as opened:
        await page.click("#create-order")
    cashier = await opened.value
    await cashier.wait_for_load_state()
    trade_no = cashier.url.rsplit("/", 1)[1]
    order = await get_order(demo.db, trade_no)
    assert order is not None and order.account_id == demo.accounts[platform].account_id
    await expect(cashier.locator("#cashier")).to_have_attribute("data-state", "pending")
    shop_order = next(o for o in demo.shop.orders.values() if o.trade_no == trade_no)

    row = page.locator(f'tr[data-out-trade-no="{shop_order.out_trade_no}"]')
    await row.locator("button.simulate").click()
    await expect(page.locator("#notice")).to_contain_text(f"{order.pay_amount_fen / 100:.2f}")

    await expect(cashier.locator("#result")).to_have_text("支付成功", timeout=CONFIRMED_WITHIN_MS)
    assert cashier.url.startswith(f"{demo.url}/demo/return?")
    await expect(cashier.locator("main")).to_contain_text(shop_order.out_trade_no)
    await expect(row.locator(".status")).to_have_text("已支付", timeout=10_000)
    await expect(row.locator(".notified")).to_have_text("已收到", timeout=10_000)
    await expect(page.locator("#notifies")).to_contain_text(shop_order.out_trade_no)
    await expect(page.locator("#notice")).to_have_text(f"订单 {shop_order.out_trade_no} 已由 mapay 确认支付")
    assert shop_order.out_trade_no[4:12] == datetime.now(SHANGHAI).strftime("%Y%m%d")  # Beijing time, like trade_no

    paid = await get_order(demo.db, trade_no)
    assert paid is not None and paid.status is OrderStatus.PAID
    assert paid.provider_trade_no == shop_order.simulated_trade_no
    valid = [n for n in demo.shop.notifies if n.problem is None and n.params["out_trade_no"] == shop_order.out_trade_no]
    assert valid and valid[0].params["money"] == money
    assert (demo.sms.delivered > 0) == (platform == "shengpay")  # module-scoped demo: shengpay runs last


async def test_forged_return_and_notify_are_refused(demo: Demo) -> None:
    forged = {"pid": str(demo.shop.merchant.pid), "trade_no": "X1", "out_trade_no": "NOPE", "type": "alipay",
              "name": "演示商品", "money": "1.00", "trade_status": "TRADE_SUCCESS", "sign": "0" * 32, "sign_type": "MD5"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{demo.url}/demo/return?{urlencode(forged)}") as response:
            page = await response.text()
        async with http.get(f"{demo.url}/demo/notify?{urlencode(forged)}") as response:
            answer = await response.text()
    assert "签名错误" in page and "支付成功" not in page
    assert answer == "fail"
    assert demo.shop.notifies[-1].problem == "签名错误"
