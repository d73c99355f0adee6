"""Every notify and return carries ``type``, also for orders the payer never chose a method for."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from agent.appkeys import DB, SETTINGS
from agent.cashier.payer import return_redirect
from agent.db import Database
from agent.matching import mark_paid, match_account, record_transactions
from agent.merchants import Merchant
from agent.notify import NOTIFIER
from agent.orders import Order, get_order
from agent.providers.base import Channel, ProviderTransaction
from tests.cashier.orders import TERMINAL, add_code
from tests.intake.epay_client import order_fields
from tests.support.eventually import eventually
from tests.support.gateway import RunningGateway
from tests.support.merchant_site import MerchantSite, serve_merchant_site


async def submit_without_type(gateway: RunningGateway, merchant: Merchant, site: MerchantSite) -> Order:
    """v2board's browser jump: /submit.php with no ``type``; nobody picks a method on the cashier afterwards."""
    fields = order_fields(merchant, type=None, notify_url=site.url, return_url="https://shop.example/return")
    async with aiohttp.ClientSession() as http, http.get(
        f"{gateway.url}/submit.php?{urlencode(fields)}", allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
        trade_no = urlsplit(response.headers["Location"]).path.removeprefix("/pay/")
    order = await get_order(gateway.app[DB], trade_no)
    assert order is not None and order.type is None
    site.expect(order.out_trade_no, "10.00")
    return order


async def paid_by(gateway: RunningGateway, order: Order, channel: Channel) -> None:
    """The provider's records show a payment of the payable amount through ``channel``; the matcher confirms."""
    payment = ProviderTransaction(
        trade_no=f"P{order.trade_no}", amount_fen=order.pay_amount_fen, channel=channel,
        paid_at=datetime.now(UTC), terminal_id=TERMINAL,
    )
    db, settings = gateway.app[DB], gateway.app[SETTINGS]
    await record_transactions(db, order.account_id, [payment])
    confirmed = await match_account(db, order.account_id, skew_ms=30_000, grace_ms=settings.late_payment_grace_seconds * 1000)
    assert [c.trade_no for c in confirmed] == [order.trade_no]
    gateway.app[NOTIFIER].wake()


async def _acked(db: Database, trade_no: str) -> bool:
    return await db.fetchval("SELECT status FROM notify_jobs WHERE trade_no = ?", (trade_no,)) == "acked"


async def test_an_order_submitted_without_type_is_notified_with_the_paying_channel(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway)
    async with serve_merchant_site(merchant.key) as site:
        order = await submit_without_type(gateway, merchant, site)
        await paid_by(gateway, order, Channel.WXPAY)
        await eventually(lambda: _acked(gateway.app[DB], order.trade_no))
    assert [r.problem for r in site.received] == [None]
    assert site.received[0].params["type"] == "wxpay"
    paid = await get_order(gateway.app[DB], order.trade_no)
    assert paid is not None and paid.type == "wxpay"
    redirect = return_redirect(paid, merchant.key)
    assert redirect is not None and parse_qs(urlsplit(redirect).query)["type"] == ["wxpay"]


async def test_an_untyped_order_paid_by_hand_is_notified_as_alipay(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway)
    async with serve_merchant_site(merchant.key) as site:
        order = await submit_without_type(gateway, merchant, site)
        await mark_paid(gateway.app[DB], order.trade_no, actor="test", reason="付款截图")
        gateway.app[NOTIFIER].wake()
        await eventually(lambda: _acked(gateway.app[DB], order.trade_no))
    assert [r.problem for r in site.received] == [None]
    assert site.received[0].params["type"] == "alipay"


async def test_a_hand_confirmation_naming_a_recorded_payment_takes_its_channel(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway)
    async with serve_merchant_site(merchant.key) as site:
        order = await submit_without_type(gateway, merchant, site)
        payment = ProviderTransaction(
            trade_no="P-OTHER", amount_fen=1, channel=Channel.WXPAY, paid_at=datetime.now(UTC), terminal_id=TERMINAL,
        )
        await record_transactions(gateway.app[DB], order.account_id, [payment])
        paid = await mark_paid(gateway.app[DB], order.trade_no, actor="test", reason="r", provider_trade_no="P-OTHER")
    assert paid.type == "wxpay"
