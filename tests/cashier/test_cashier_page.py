"""The cashier page in real Chromium: what the payer sees, and how it follows the order live."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import segno
from playwright.async_api import Page, expect

from agent import epay
from agent.appkeys import DB
from agent.codes import Code
from agent.matching.confirm import close_order, expire_overdue
from agent.merchants import Merchant
from tests.cashier.merchant_site import merchant_site
from tests.cashier.orders import PAYLOAD, add_code, leave_ms, pay, place, submit_url
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.browser


def decode_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


def seconds(mm_ss: str) -> int:
    minutes, secs = mm_ss.split(":")
    return int(minutes) * 60 + int(secs)


async def open_cashier(page: Page, gateway: RunningGateway, trade_no: str) -> None:
    await page.goto(f"{gateway.url}/pay/{trade_no}")


async def test_qr_shows_the_code_payload(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    order = await place(gateway, merchant)
    await open_cashier(page, gateway, order.trade_no)
    await page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    assert decode_qr(await page.locator("#qr").screenshot()) == PAYLOAD


async def test_uploaded_image_code_is_shown(page: Page, gateway: RunningGateway, merchant: Merchant) -> None:
    buffer = io.BytesIO()
    segno.make("https://qr.95516.com/00010000/uploaded-plate", error="m").save(buffer, kind="png", scale=8)
    await add_code(gateway, payload=None, image=buffer.getvalue(), image_type="image/png")
    order = await place(gateway, merchant)
    response = await page.request.get(f"{gateway.url}/pay/{order.trade_no}/qr")
    assert response.headers["content-type"] == "image/png"
    assert await response.body() == buffer.getvalue()
    await open_cashier(page, gateway, order.trade_no)
    await page.wait_for_function("document.getElementById('qr').naturalWidth > 0")
    assert decode_qr(await page.locator("#qr").screenshot()) == "https://qr.95516.com/00010000/uploaded-plate"


async def test_offset_amount_site_and_product(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    await place(gateway, merchant, money="10.00")  # takes 10.00 in the only scope
    order = await place(gateway, merchant, money="10.00", sitename="星河小铺", name="<b>年卡</b>")
    assert order.pay_amount_fen == 999
    await open_cashier(page, gateway, order.trade_no)
    await expect(page.locator("#amount-warning")).to_have_text("请务必支付 9.99 元，金额不符将无法自动到账")
    await expect(page.locator("#pay-amount")).to_have_text("¥9.99")
    await expect(page.locator("#original-price")).to_have_text("原价 ¥10.00")
    await expect(page.locator("#site-name")).to_have_text("星河小铺")
    await expect(page.locator("#product-name")).to_have_text("<b>年卡</b>")  # escaped, shown as text
    await expect(page.locator("#method-label")).to_have_text("请使用支付宝扫码支付")


async def test_exact_amount_has_no_original_price_and_falls_back_to_merchant_name(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    order = await place(gateway, merchant, money="12.34", type="wxpay")
    await open_cashier(page, gateway, order.trade_no)
    await expect(page.locator("#amount-warning")).to_have_text("请务必支付 12.34 元，金额不符将无法自动到账")
    await expect(page.locator("#original-price")).to_have_count(0)
    await expect(page.locator("#site-name")).to_have_text(merchant.name)
    await expect(page.locator("#method-label")).to_have_text("请使用微信支付扫码支付")


async def test_countdown_decreases(page: Page, gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    order = await place(gateway, merchant)
    await open_cashier(page, gateway, order.trade_no)
    countdown = page.locator("#countdown")
    first = seconds(await countdown.inner_text())
    assert 280 < first <= gateway.settings.order_ttl_seconds
    await page.wait_for_timeout(2200)
    second = seconds(await countdown.inner_text())
    assert first - 4 <= second <= first - 2


async def test_expires_live_and_hides_the_qr(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    order = await place(gateway, merchant)
    await leave_ms(gateway, order.trade_no, 2500)
    await open_cashier(page, gateway, order.trade_no)
    await expect(page.locator("#qr")).to_be_visible()
    await page.evaluate("window.sameDocument = true")
    await expect(page.get_by_text("订单已过期")).to_be_visible(timeout=8000)
    await expect(page.locator("#qr")).to_have_count(0)
    assert await page.evaluate("window.sameDocument === true")


async def test_method_chooser_sets_the_type(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    await page.goto(submit_url(gateway, merchant, money="8.80"))
    await expect(page.locator("#method-chooser")).to_be_visible()
    await expect(page.locator("#qr")).to_have_count(0)
    await expect(page.locator("#amount-warning")).to_have_text("请务必支付 8.80 元，金额不符将无法自动到账")
    trade_no = await page.locator("#trade-no").inner_text()
    await page.get_by_role("button", name="微信支付").click()
    await expect(page.locator("#qr")).to_be_visible()
    await expect(page.locator("#method-label")).to_have_text("请使用微信支付扫码支付")
    assert await gateway.app[DB].fetchval("SELECT type FROM orders WHERE trade_no = ?", (trade_no,)) == "wxpay"


async def test_paid_without_reload_then_back_to_merchant_signed(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    async with merchant_site() as site:
        await place(gateway, merchant, money="10.00")
        order = await place(
            gateway, merchant, money="10.00", param="uid=7", return_url=f"{site.url}/return?from=shop"
        )
        assert order.pay_amount_fen == 999
        await open_cashier(page, gateway, order.trade_no)
        await page.evaluate("window.sameDocument = true")
        await pay(gateway, order)
        await expect(page.locator("#paid-title")).to_be_visible(timeout=5000)
        assert await page.evaluate("window.sameDocument === true")
        await expect(page.locator("#qr")).to_have_count(0)
        await page.wait_for_url(f"{site.url}/return?**", timeout=5000)
        [returned] = site.returns
    assert returned.pop("from") == "shop"
    fields = dict(returned)
    assert epay.verify(fields, merchant.key)
    assert fields["money"] == "10.00"  # the merchant's price, never the adjusted 9.99
    assert fields["trade_no"] == order.trade_no
    assert fields["out_trade_no"] == order.out_trade_no
    assert fields["param"] == "uid=7"
    assert fields["trade_status"] == "TRADE_SUCCESS"


async def test_paid_without_return_url_shows_success(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    order = await place(gateway, merchant, return_url=None)
    await pay(gateway, order)
    await open_cashier(page, gateway, order.trade_no)
    await expect(page.locator("#paid-title")).to_have_text("支付成功")
    await expect(page.locator("#paid-text")).to_have_text("已收到您的付款，可以关闭此页面。")
    await page.wait_for_timeout(1500)
    assert page.url == f"{gateway.url}/pay/{order.trade_no}"


@pytest.mark.parametrize("ending", ["past expiry", "expired", "closed"])
async def test_finished_orders_say_so_without_a_qr(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code, ending: str
) -> None:
    order = await place(gateway, merchant)
    if ending == "closed":
        await close_order(gateway.app[DB], order.trade_no, actor="cli")
    else:
        await leave_ms(gateway, order.trade_no, -1000)
        if ending == "expired":
            assert await expire_overdue(gateway.app[DB], skew_ms=0) == 1
    await open_cashier(page, gateway, order.trade_no)
    await expect(page.get_by_text("订单已关闭" if ending == "closed" else "订单已过期")).to_be_visible()
    await expect(page.locator("#qr")).to_have_count(0)
    await expect(page.locator("#amount-warning")).to_be_hidden()
    await expect(page.locator("#paid-button")).to_be_hidden()
    qr = await page.request.get(f"{gateway.url}/pay/{order.trade_no}/qr")
    assert qr.status == 404


@pytest.mark.parametrize("trade_no", ["20249999999999999999", "x'%20OR%201=1", "%3Cscript%3E"])
async def test_unknown_order_is_a_chinese_404(page: Page, gateway: RunningGateway, trade_no: str) -> None:
    response = await page.goto(f"{gateway.url}/pay/{trade_no}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="订单不存在")).to_be_visible()
