""""我已支付" reaches the poll scheduler: the account is read at once instead of at its next scheduled time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from agent import epay
from agent.codes import Code
from agent.merchants import Merchant
from agent.settings import Settings
from tests.cashier.merchant_site import merchant_site
from tests.cashier.orders import place
from tests.support.eventually import eventually
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice

pytestmark = pytest.mark.browser


@pytest.fixture
def office() -> MemoryBackOffice:
    return MemoryBackOffice()


@pytest.fixture
async def gateway(settings: Settings, office: MemoryBackOffice) -> AsyncIterator[RunningGateway]:
    """After its first read, an account is read again only in an hour, unless someone asks."""
    hourly = settings.model_copy(update={"poll_interval_seconds": 3600})
    async with running_gateway(hourly, provider_factory=office) as running:
        yield running


async def test_paid_button_reads_the_account_now_and_returns_signed(
    page: Page, gateway: RunningGateway, merchant: Merchant, code: Code, office: MemoryBackOffice
) -> None:
    async with merchant_site() as site:
        order = await place(gateway, merchant, return_url=f"{site.url}/return")
        await page.goto(f"{gateway.url}/pay/{order.trade_no}")
        await eventually(lambda: office.fetches[order.account_id] == 1)  # the first read of a new live account
        office.pay(order.account_id, order.pay_amount_fen)  # the payer pays; no read is due for an hour
        await page.wait_for_timeout(1500)
        await expect(page.locator("#paid-button")).to_be_visible()
        assert office.fetches[order.account_id] == 1
        await page.get_by_role("button", name="我已支付").click()
        await expect(page.locator("#feedback")).to_have_text("正在确认…")
        await expect(page.locator("#paid-title")).to_be_visible(timeout=5000)
        await page.wait_for_url(f"{site.url}/return?**", timeout=5000)
        [returned] = site.returns
    assert office.fetches[order.account_id] == 2
    assert epay.verify(dict(returned), merchant.key)
    assert returned["trade_no"] == order.trade_no
