"""The cashier fits a phone and a laptop screen: nothing overflows, the essentials are in view."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from agent.merchants import Merchant
from tests.cashier.orders import OrderSpec, create_order
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("test-results")
VIEWPORTS = [(390, 844), (1280, 800)]
LONG_NAME = "超长商品名称测试" * 8 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


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
    page: Page, gateway: RunningGateway, merchant: Merchant, width: int, height: int
) -> None:
    spec = OrderSpec(money_fen=1000, pay_amount_fen=999, sitename="星河小铺", name=LONG_NAME)
    order = await create_order(gateway.app, merchant, spec)
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{gateway.url}/pay/{order.trade_no}")
    await page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    await assert_fits(page, ["pay-amount", "amount-warning", "qr", "countdown", "paid-button"], "cashier-pay")


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
async def test_method_chooser_fits(
    page: Page, gateway: RunningGateway, merchant: Merchant, width: int, height: int
) -> None:
    order = await create_order(gateway.app, merchant, OrderSpec(type=None))
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{gateway.url}/pay/{order.trade_no}")
    await expect(page.locator("#method-chooser")).to_be_visible()
    await assert_fits(page, ["pay-amount", "amount-warning", "method-chooser"], "cashier-choose")


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
async def test_expired_screen_fits(
    page: Page, gateway: RunningGateway, merchant: Merchant, width: int, height: int
) -> None:
    order = await create_order(gateway.app, merchant, OrderSpec(status="expired"))
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{gateway.url}/pay/{order.trade_no}")
    await assert_fits(page, ["trade-no"], "cashier-expired")
