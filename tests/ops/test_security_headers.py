"""Every response carries nosniff and a Referrer-Policy; the admin console can never be framed."""

from __future__ import annotations

import aiohttp
import pytest

from agent.merchants import Merchant
from tests.cashier.orders import add_code, place
from tests.support.gateway import RunningGateway


async def _headers(gateway: RunningGateway, path: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + path, allow_redirects=False) as response:
        await response.read()
        return response.status, dict(response.headers)


@pytest.mark.parametrize("path", ["/admin/login", "/admin", "/admin/orders", "/admin/no-such-page"])
async def test_admin_pages_refuse_to_be_framed(gateway: RunningGateway, path: str) -> None:
    _, headers = await _headers(gateway, path)
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]


async def test_every_other_answer_is_nosniff_with_a_referrer_policy(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway)
    order = await place(gateway, merchant)
    cashier_status, cashier = await _headers(gateway, f"/pay/{order.trade_no}")
    assert cashier_status == 200
    assert "frame-ancestors 'none'" in cashier["Content-Security-Policy"]  # the cashier's own CSP stays
    assert cashier["Referrer-Policy"] == "no-referrer"
    for path in ("/healthz", "/metrics", "/api.php?act=query", "/no-such-path", "/api/v1/openapi.json"):
        _, headers = await _headers(gateway, path)
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
