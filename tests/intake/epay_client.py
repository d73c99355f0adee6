"""A merchant site's side of epay V1 for tests: signed create fields and calls over real HTTP."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

from agent import epay
from agent.merchants import Merchant
from tests.support.gateway import RunningGateway

_numbers = itertools.count(1)


def order_fields(merchant: Merchant, **fields: str | None) -> dict[str, str]:
    """Typical mapi.php fields with a fresh out_trade_no; ``None`` drops a field; signed last."""
    base: dict[str, str | None] = {
        "pid": str(merchant.pid),
        "type": "alipay",
        "out_trade_no": f"T{next(_numbers):08d}",
        "notify_url": "http://127.0.0.1:9/notify",
        "return_url": "http://127.0.0.1:9/return",
        "name": "测试商品",
        "money": "10.00",
        "clientip": "127.0.0.1",
        "sign_type": "MD5",
    }
    base.update(fields)
    present = {k: v for k, v in base.items() if v is not None}
    present["sign"] = epay.sign(present, merchant.key)
    return present


async def post_form(gateway: RunningGateway, path: str, data: dict[str, str] | str | bytes) -> dict[str, Any]:
    """POST a form and return the JSON answer, asserting it is never a server error."""
    async with aiohttp.ClientSession() as http, http.post(gateway.url + path, data=data) as response:
        assert response.status < 500, await response.text()
        return dict(await response.json(content_type=None))


async def mapi(gateway: RunningGateway, merchant: Merchant, **fields: str | None) -> dict[str, Any]:
    return await post_form(gateway, "/mapi.php", order_fields(merchant, **fields))


async def get_json(gateway: RunningGateway, path: str, params: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + path, params=params) as response:
        assert response.status < 500, await response.text()
        return dict(await response.json(content_type=None))
