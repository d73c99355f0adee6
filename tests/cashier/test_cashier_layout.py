"""The cashier fits a phone and a laptop screen: nothing overflows, the essentials are in view."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from agent.appkeys import DB
from agent.codes import Code
from agent.matching.confirm import close_order
from agent.merchants import Merchant
from tests.cashier.orders import place, submit_url
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("test-results")
VIEWPORTS = [(390, 844), (1280, 800)]
LONG_NAME = "超长商品名称测试" * 3 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOP"  # near the 127-byte cap


async def assert_fits(page: Page, ids: list[str], shot: str) -> None:
    """Screenshot into test-results/, then: no horizontal scrolling, each element wholly inside the viewport."""
    viewport = page.viewport_size
    assert viewport is not None
    width, height = viewport["width"], viewport["height"]
    await page.screenshot(path=SCREENSHOTS / f"{shot}-{width}x{height}.png", full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for element_id in ids:
        box = await page.locator(f"#{element_id}").bounding_box()
        assert box is not None, element_id
        assert box["x"] >= 0 and box["y"] >= 0, element_id
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, element_id


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
async def test_pay_screen_fits(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code, width: int, height: int
) -> None:
    await place(gateway, merchant, money="10.00")
    order = await place(gateway, merchant, money="10.00", sitename="星河小铺", name=LONG_NAME)
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{gateway.url}/pay/{order.trade_no}")
    await page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    await assert_fits(page, ["pay-amount", "amount-warning", "qr", "countdown", "paid-button"], "cashier-pay")


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
async def test_method_chooser_fits(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code, width: int, height: int
) -> None:
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(submit_url(gateway, merchant))
    await expect(page.locator("#method-chooser")).to_be_visible()
    await assert_fits(page, ["pay-amount", "amount-warning", "method-chooser"], "cashier-choose")


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
async def test_closed_screen_fits(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code, width: int, height: int
) -> None:
    order = await place(gateway, merchant)
    await close_order(gateway.app[DB], order.trade_no, actor="cli")
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{gateway.url}/pay/{order.trade_no}")
    await assert_fits(page, ["trade-no"], "cashier-closed")
