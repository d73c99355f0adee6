"""Orders for cashier tests, made and paid the real way: signed epay calls, then the matcher confirming a payment."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import aiohttp

from agent.appkeys import DB, SETTINGS
from agent.codes import Code
from agent.db import now_ms
from agent.matching.confirm import match_account, record_transactions
from agent.merchants import Merchant
from agent.orders import Order, get_order
from agent.providers.base import Channel, ProviderTransaction
from tests.intake.epay_client import mapi, order_fields
from tests.support import factories
from tests.support.gateway import RunningGateway

PAYLOAD = "https://qr.alipay.com/fkx19811qhvbq0c5aawwnd3"
TERMINAL = "T1"


async def add_code(
    gateway: RunningGateway, *, payload: str | None = PAYLOAD, image: bytes | None = None,
    image_type: str | None = None,
) -> Code:
    """A code on a fresh account: the only eligible one unless the test adds more."""
    return await factories.add_code(
        gateway.app, terminal_id=TERMINAL, payload=payload, image=image, image_type=image_type
    )


async def _order(gateway: RunningGateway, trade_no: str) -> Order:
    order = await get_order(gateway.app[DB], trade_no)
    assert order is not None
    return order


async def place(gateway: RunningGateway, merchant: Merchant, **fields: str | None) -> Order:
    """A merchant's server creates an order through /mapi.php (``None`` drops a field)."""
    answer = await mapi(gateway, merchant, **fields)
    assert answer["code"] == 1, answer
    assert answer["payurl"] == f"{gateway.url}/pay/{answer['trade_no']}"
    return await _order(gateway, answer["trade_no"])


def submit_url(gateway: RunningGateway, merchant: Merchant, **fields: str | None) -> str:
    """The browser jump a merchant site (v2board) makes: /submit.php without ``type``."""
    return f"{gateway.url}/submit.php?{urlencode(order_fields(merchant, type=None, **fields))}"


async def place_untyped(gateway: RunningGateway, merchant: Merchant) -> Order:
    """An order created by /submit.php without ``type``; its redirect points at the cashier."""
    async with aiohttp.ClientSession() as http, http.get(
        submit_url(gateway, merchant), allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
        trade_no = urlsplit(response.headers["Location"]).path.removeprefix("/pay/")
    return await _order(gateway, trade_no)


async def leave_ms(gateway: RunningGateway, trade_no: str, left_ms: int) -> None:
    """Let time pass: the order now has ``left_ms`` before it expires (negative: that long past expiry)."""
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET expires_at = ? WHERE trade_no = ?", (now_ms() + left_ms, trade_no))


async def pay(gateway: RunningGateway, order: Order) -> None:
    """The provider's records show the payer's payment of pay_amount; the matcher confirms the order."""
    assert order.type is not None, "the payer pays with a chosen method"
    payment = ProviderTransaction(
        trade_no=f"P{order.trade_no}", amount_fen=order.pay_amount_fen, channel=Channel(order.type),
        paid_at=datetime.now(UTC), terminal_id=TERMINAL,
    )
    db, settings = gateway.app[DB], gateway.app[SETTINGS]
    await record_transactions(db, order.account_id, [payment])
    confirmed = await match_account(
        db, order.account_id, skew_ms=settings.match_skew_seconds * 1000,
        grace_ms=settings.late_payment_grace_seconds * 1000,
    )
    assert [c.trade_no for c in confirmed] == [order.trade_no]
