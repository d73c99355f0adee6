"""Creating orders through /mapi.php and /submit.php: shapes, redirects, stored fields."""

from __future__ import annotations

import re

import aiohttp

from agent.appkeys import DB
from agent.codes import Code
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from tests.intake.epay_client import mapi, order_fields
from tests.support.gateway import RunningGateway


async def test_mapi_creates_a_pending_order_and_answers_epay_json(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    answer = await mapi(gateway, merchant, money="12.34", param="abc", sitename="小店", device="mobile")

    assert answer["code"] == 1 and answer["msg"]
    assert re.fullmatch(r"[0-9]{22}", answer["trade_no"])
    assert answer["payurl"] == f"{gateway.url}/pay/{answer['trade_no']}"
    order = await get_order(gateway.app[DB], answer["trade_no"])
    assert order is not None
    assert (order.status, order.money_fen, order.pay_amount_fen) == (OrderStatus.PENDING, 1234, 1234)
    assert (order.code_id, order.scope, order.type) == (code.id, f"a{code.account_id}:tT1", "alipay")
    assert (order.param, order.sitename, order.device, order.clientip) == ("abc", "小店", "mobile", "127.0.0.1")
    assert order.expires_at - order.created_at == gateway.settings.order_ttl_seconds * 1000


async def test_mapi_accepts_get_and_device_defaults_to_pc(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    async with aiohttp.ClientSession() as http, http.get(
        gateway.url + "/mapi.php", params=order_fields(merchant)
    ) as response:
        answer = await response.json()
    assert answer["code"] == 1
    order = await get_order(gateway.app[DB], answer["trade_no"])
    assert order is not None and order.device == "pc"


async def test_submit_redirects_to_the_cashier_by_get_and_post(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    async with aiohttp.ClientSession() as http:
        fields = order_fields(merchant, clientip=None)
        async with http.get(gateway.url + "/submit.php", params=fields, allow_redirects=False) as response:
            assert response.status == 302
            by_get = response.headers["Location"]
        fields = order_fields(merchant, clientip=None)
        async with http.post(gateway.url + "/submit.php", data=fields, allow_redirects=False) as response:
            assert response.status == 302
            by_post = response.headers["Location"]
    for location in (by_get, by_post):
        assert re.fullmatch(r"/pay/[0-9]{22}", location)
        assert await get_order(gateway.app[DB], location.removeprefix("/pay/")) is not None
    assert by_get != by_post


async def test_submit_without_type_leaves_the_choice_to_the_payer(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/submit.php", data=order_fields(merchant, type=None, clientip=None), allow_redirects=False
    ) as response:
        assert response.status == 302
        trade_no = response.headers["Location"].removeprefix("/pay/")
    order = await get_order(gateway.app[DB], trade_no)
    assert order is not None and order.type is None


async def test_name_is_cut_to_127_bytes_without_splitting_a_character(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    answer = await mapi(gateway, merchant, name="商" * 100)
    order = await get_order(gateway.app[DB], answer["trade_no"])
    assert order is not None
    assert order.name == "商" * 42  # 42 * 3 = 126 bytes; a 43rd character would need 129
