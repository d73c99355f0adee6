"""/api.php queries: order by trade_no or out_trade_no, recent orders, merchant info, epay error codes."""

from __future__ import annotations

import re

import pytest

from agent.appkeys import DB
from agent.codes import Code
from agent.db import now_ms
from agent.merchants import Merchant
from tests.intake.epay_client import get_json, mapi
from tests.support.gateway import RunningGateway

_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _auth(merchant: Merchant, **extra: str) -> dict[str, str]:
    return {"pid": str(merchant.pid), "key": merchant.key, **extra}


async def test_order_shows_the_original_money_and_status(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    await mapi(gateway, merchant, money="5.00")
    offset = await mapi(gateway, merchant, money="5.00", out_trade_no="Q1", param="p")  # pays 4.99
    by_trade_no = await get_json(gateway, "/api.php", _auth(merchant, act="order", trade_no=offset["trade_no"]))
    by_out = await get_json(gateway, "/api.php", _auth(merchant, act="order", out_trade_no="Q1"))
    assert by_trade_no == by_out
    assert by_out["code"] == 1
    assert (by_out["trade_no"], by_out["out_trade_no"], by_out["money"]) == (offset["trade_no"], "Q1", "5.00")
    assert (by_out["status"], by_out["type"], by_out["param"], by_out["pid"]) == (0, "alipay", "p", merchant.pid)
    assert _TIME.fullmatch(by_out["addtime"]) and by_out["endtime"] == ""

    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET status = 'paid', paid_at = ? WHERE trade_no = ?",
                           (now_ms(), offset["trade_no"]))
    paid = await get_json(gateway, "/api.php", _auth(merchant, act="order", trade_no=offset["trade_no"]))
    assert paid["status"] == 1 and _TIME.fullmatch(paid["endtime"])


async def test_times_are_china_time(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    answer = await mapi(gateway, merchant)
    async with gateway.app[DB].transaction() as conn:
        # 2024-01-01 00:00:00 UTC is 08:00 in Shanghai
        await conn.execute("UPDATE orders SET created_at = 1704067200000 WHERE trade_no = ?", (answer["trade_no"],))
    order = await get_json(gateway, "/api.php", _auth(merchant, act="order", trade_no=answer["trade_no"]))
    assert order["addtime"] == "2024-01-01 08:00:00"


async def test_orders_lists_recent_orders_up_to_50(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    made = [(await mapi(gateway, merchant, money=f"{i + 1}.00"))["trade_no"] for i in range(3)]
    listed = await get_json(gateway, "/api.php", _auth(merchant, act="orders", limit="2"))
    assert listed["code"] == 1 and [o["trade_no"] for o in listed["data"]] == made[:0:-1]
    for bad in ("0", "x", "-1"):
        refused = await get_json(gateway, "/api.php", _auth(merchant, act="orders", limit=bad))
        assert refused["code"] == -4 and "limit" in refused["msg"]


async def test_orders_limit_above_50_is_clamped_and_offset_skips_the_newest(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    made = {(await mapi(gateway, merchant, money=f"{i + 1}.00"))["trade_no"] for i in range(53)}
    # Newest first: by creation time, ties (orders placed within one millisecond) by trade number.
    rows = await gateway.app[DB].fetchall("SELECT trade_no, created_at FROM orders")
    newest_first = [row[0] for row in sorted(rows, key=lambda row: (row[1], row[0]), reverse=True)]
    assert set(newest_first) == made
    clamped = await get_json(gateway, "/api.php", _auth(merchant, act="orders", limit="1000"))
    assert clamped["code"] == 1 and [o["trade_no"] for o in clamped["data"]] == newest_first[:50]
    page = await get_json(gateway, "/api.php", _auth(merchant, act="orders", limit="2", offset="1"))
    assert [o["trade_no"] for o in page["data"]] == newest_first[1:3]
    tail = await get_json(gateway, "/api.php", _auth(merchant, act="orders", limit="51", offset="50"))
    assert [o["trade_no"] for o in tail["data"]] == newest_first[50:]
    refused = await get_json(gateway, "/api.php", _auth(merchant, act="orders", offset="x"))
    assert refused["code"] == -4 and "offset" in refused["msg"]


async def test_query_reports_the_merchant(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    paid = await mapi(gateway, merchant)
    await mapi(gateway, merchant)
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET status = 'paid', paid_at = ? WHERE trade_no = ?",
                           (now_ms(), paid["trade_no"]))
    info = await get_json(gateway, "/api.php", _auth(merchant, act="query"))
    assert info["code"] == 1 and info["pid"] == merchant.pid and info["active"] == 1
    assert (info["orders"], info["order_today"], info["order_lastday"]) == (1, 1, 0)
    assert "key" not in info


@pytest.mark.parametrize(
    "params, code",
    [
        ({"act": "order", "trade_no": "0"}, -1),
        ({"act": "order"}, -4),
        ({"act": "nope"}, -4),
        ({"act": "order", "trade_no": "1", "key": "wrong"}, -2),
        ({"act": "order", "trade_no": "1", "pid": "424242"}, -3),
        ({"act": "order", "trade_no": "1", "pid": "abc"}, -3),
        ({"act": "order", "trade_no": "1", "pid": ""}, -4),
    ],
)
async def test_errors_carry_the_epay_codes(
    gateway: RunningGateway, merchant: Merchant, params: dict[str, str], code: int
) -> None:
    answer = await get_json(gateway, "/api.php", {**_auth(merchant), **params})
    assert answer["code"] == code and answer["msg"]


async def test_another_merchants_order_is_not_found(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    from agent.appkeys import MERCHANTS

    other = await gateway.app[MERCHANTS].create("另一个商户")
    theirs = await mapi(gateway, other)
    answer = await get_json(gateway, "/api.php", _auth(merchant, act="order", trade_no=theirs["trade_no"]))
    assert answer["code"] == -1
