"""The cashier's HTTP surface: status feed, method choice and "I have paid" are safe to repeat and leak nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent.appkeys import DB
from agent.codes import Code
from agent.merchants import Merchant
from tests.cashier.orders import leave_ms, pay, place, place_untyped
from tests.support.gateway import RunningGateway


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def order_type(gateway: RunningGateway, trade_no: str) -> str | None:
    value = await gateway.app[DB].fetchval("SELECT type FROM orders WHERE trade_no = ?", (trade_no,))
    return None if value is None else str(value)


async def test_status_feed_is_minimal_and_never_cached(
    gateway: RunningGateway, merchant: Merchant, code: Code, client: aiohttp.ClientSession
) -> None:
    order = await place(gateway, merchant, return_url="https://shop.example/done")
    url = f"{gateway.url}/pay/{order.trade_no}/status"
    async with client.get(url) as response:
        assert response.headers["Cache-Control"] == "no-store"
        document = await response.json()
    assert document["status"] == "pending" and 295 <= document["remaining_seconds"] <= 300
    assert set(document) == {"status", "remaining_seconds"}
    await pay(gateway, order)
    async with client.get(url) as response:
        body = await response.text()
        document = await response.json()
    assert document["status"] == "paid"
    assert document["redirect_url"].startswith("https://shop.example/done?")
    assert merchant.key not in body and "notify" not in body


async def test_unknown_order_status_is_404_json(gateway: RunningGateway, client: aiohttp.ClientSession) -> None:
    for method, path in [("GET", "status"), ("POST", "check")]:
        async with client.request(method, f"{gateway.url}/pay/2024404/{path}") as response:
            assert response.status == 404
            assert await response.json() == {"error": "订单不存在"}


async def test_method_is_set_once_and_only_to_a_known_method(
    gateway: RunningGateway, merchant: Merchant, code: Code, client: aiohttp.ClientSession
) -> None:
    order = await place_untyped(gateway, merchant)
    url = f"{gateway.url}/pay/{order.trade_no}/method"
    async with client.get(f"{gateway.url}/pay/{order.trade_no}/qr") as response:
        assert response.status == 404  # no QR before a method is chosen
    async with client.post(url, data={"type": "bitcoin"}) as response:
        assert response.status == 400
    assert await order_type(gateway, order.trade_no) is None
    async with client.post(url, data={"type": "wxpay"}, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == f"/pay/{order.trade_no}"
    async with client.post(url, data={"type": "alipay"}, allow_redirects=False) as response:
        assert response.status == 303
    assert await order_type(gateway, order.trade_no) == "wxpay"


async def test_method_cannot_be_set_on_an_expired_order(
    gateway: RunningGateway, merchant: Merchant, code: Code, client: aiohttp.ClientSession
) -> None:
    order = await place_untyped(gateway, merchant)
    await leave_ms(gateway, order.trade_no, -1)
    async with client.post(f"{gateway.url}/pay/{order.trade_no}/method", data={"type": "alipay"}) as response:
        assert response.status == 200  # back on the page, which says the order expired
        assert "订单已过期" in await response.text()
    assert await order_type(gateway, order.trade_no) is None


async def test_page_is_locked_down(
    gateway: RunningGateway, merchant: Merchant, code: Code, client: aiohttp.ClientSession
) -> None:
    order = await place(gateway, merchant)
    async with client.get(f"{gateway.url}/pay/{order.trade_no}") as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        body = await response.text()
    assert merchant.key not in body and order.notify_url not in body
    async with client.get(f"{gateway.url}/pay/{order.trade_no}/qr") as response:
        assert response.content_type == "image/svg+xml"
        assert "sandbox" in response.headers["Content-Security-Policy"]
