"""Re-using an out_trade_no: same fields give the same trade_no; changes, paid or closed orders are refused."""

from __future__ import annotations

import asyncio

import pytest

from agent.appkeys import DB
from agent.codes import Code
from agent.db import now_ms
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi, order_fields, post_form
from tests.support.gateway import RunningGateway


async def _set_status(gateway: RunningGateway, trade_no: str, status: str) -> None:
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET status = ? WHERE trade_no = ?", (status, trade_no))


async def test_same_fields_give_the_same_order(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    first = await mapi(gateway, merchant, out_trade_no="R1", param="x")
    before = await snapshot(gateway)
    again = await mapi(gateway, merchant, out_trade_no="R1", param="x", clientip="10.0.0.2", type="wxpay")
    assert again["code"] == 1 and again["trade_no"] == first["trade_no"]
    assert await snapshot(gateway) == before


@pytest.mark.parametrize(
    "change",
    [{"money": "10.01"}, {"name": "另一个商品"}, {"notify_url": "http://127.0.0.1:9/other"},
     {"return_url": "http://127.0.0.1:9/other"}, {"param": "changed"}, {"return_url": None}],
)
async def test_changed_fields_are_refused(
    gateway: RunningGateway, merchant: Merchant, code: Code, change: dict[str, str | None]
) -> None:
    await mapi(gateway, merchant, out_trade_no="R2")
    before = await snapshot(gateway)
    answer = await mapi(gateway, merchant, out_trade_no="R2", **change)
    assert answer["code"] == -1 and "不一致" in answer["msg"]
    assert await snapshot(gateway) == before


@pytest.mark.parametrize("status, hint", [("paid", "已支付"), ("closed", "已关闭")])
async def test_paid_or_closed_orders_are_not_reused(
    gateway: RunningGateway, merchant: Merchant, code: Code, status: str, hint: str
) -> None:
    first = await mapi(gateway, merchant, out_trade_no="R3")
    await _set_status(gateway, first["trade_no"], status)
    before = await snapshot(gateway)
    answer = await mapi(gateway, merchant, out_trade_no="R3")
    assert answer["code"] == -1 and hint in answer["msg"]
    assert await snapshot(gateway) == before


async def test_an_expired_order_is_renewed_under_the_same_trade_no(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    first = await mapi(gateway, merchant, out_trade_no="R4")
    await _set_status(gateway, first["trade_no"], "expired")
    again = await mapi(gateway, merchant, out_trade_no="R4")
    assert again["trade_no"] == first["trade_no"]
    order = await get_order(gateway.app[DB], first["trade_no"])
    assert order is not None and order.status is OrderStatus.PENDING and order.expires_at > now_ms()


async def test_the_same_order_sent_concurrently_makes_one_order(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    fields = order_fields(merchant, out_trade_no="R5")
    answers = await asyncio.gather(*(post_form(gateway, "/mapi.php", fields) for _ in range(20)))
    assert {a["code"] for a in answers} == {1}
    assert len({a["trade_no"] for a in answers}) == 1
    assert await gateway.app[DB].fetchval("SELECT count(*) FROM orders") == 1


async def test_out_trade_no_is_per_merchant(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    from agent.appkeys import MERCHANTS

    other = await gateway.app[MERCHANTS].create("另一个商户")
    mine, theirs = await mapi(gateway, merchant, out_trade_no="R6"), await mapi(gateway, other, out_trade_no="R6")
    assert mine["code"] == theirs["code"] == 1 and mine["trade_no"] != theirs["trade_no"]
