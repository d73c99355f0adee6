"""A payer who pays twice never confirms somebody else's order: the slot is quarantined, the payment flagged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import ClientSession

from agent.appkeys import DB
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.factories import add_code
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import MemoryBackOffice


async def _status(gateway: RunningGateway, trade_no: str) -> OrderStatus:
    order = await get_order(gateway.app[DB], trade_no)
    assert order is not None
    return order.status


async def _paid_order(gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice) -> dict[str, Any]:
    """Order A at 10.00, paid once and confirmed."""
    answer = await mapi(gateway, merchant, money="10.00")
    assert answer["code"] == 1, answer
    order = await get_order(gateway.app[DB], answer["trade_no"])
    assert order is not None and order.pay_amount_fen == 1000
    office.pay(order.account_id, 1000, terminal_id="T1")
    await eventually(lambda: _status(gateway, order.trade_no), within=5)
    await eventually(lambda: _is(gateway, order.trade_no, OrderStatus.PAID), within=5)
    return {"trade_no": order.trade_no, "account_id": order.account_id}


async def _is(gateway: RunningGateway, trade_no: str, status: OrderStatus) -> bool:
    return await _status(gateway, trade_no) is status


async def _duplicate_of(gateway: RunningGateway, provider_trade_no: str) -> str | None:
    row = await gateway.app[DB].fetchone(
        "SELECT status, duplicate_of FROM provider_transactions WHERE provider_trade_no = ?", (provider_trade_no,)
    )
    return None if row is None else (row["duplicate_of"] if row["status"] == "unmatched" else "matched!")


async def test_a_second_payment_is_flagged_and_the_next_order_gets_another_amount(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    """The issue's interleaving: A paid; its payer pays 10.00 again; B asks for 10.00 right after."""
    await add_code(gateway.app, terminal_id="T1")
    a = await _paid_order(gateway, merchant, office)
    again = office.pay(a["account_id"], 1000, terminal_id="T1")
    b = await mapi(gateway, merchant, money="10.00")
    assert b["code"] == 1, b
    b_order = await get_order(gateway.app[DB], b["trade_no"])
    assert b_order is not None and b_order.pay_amount_fen == 999  # 10.00 is quarantined

    assert await eventually(lambda: _duplicate_of(gateway, again.trade_no), within=5) == a["trade_no"]
    await asyncio.sleep(0.3)  # several more reads
    assert await _status(gateway, b["trade_no"]) is OrderStatus.PENDING
    async with ClientSession() as http, http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    assert 'mapay_unmatched_payments{kind="duplicate"} 1.0' in text
    assert "mapay_duplicate_payments_total" in text


@pytest.mark.parametrize("settings_overrides", [{"amount_quarantine_seconds": 0, "late_payment_grace_seconds": 0}])
async def test_without_quarantine_a_payment_read_before_the_order_existed_still_confirms_nothing(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    """With quarantine off the slot is handed out again at once; the payment already read cannot take it."""
    await add_code(gateway.app, terminal_id="T1")
    a = await _paid_order(gateway, merchant, office)
    await mapi(gateway, merchant, money="3.00")  # keeps the account read while nothing else is live
    again = office.pay(a["account_id"], 1000, terminal_id="T1")
    await eventually(
        lambda: gateway.app[DB].fetchval(
            "SELECT 1 FROM provider_transactions WHERE provider_trade_no = ?", (again.trade_no,)
        ),
        within=5,
    )
    b = await mapi(gateway, merchant, money="10.00")
    b_order = await get_order(gateway.app[DB], b["trade_no"])
    assert b_order is not None and b_order.pay_amount_fen == 1000  # the same slot, handed out again
    await asyncio.sleep(0.5)
    assert await _status(gateway, b["trade_no"]) is OrderStatus.PENDING
    assert await _duplicate_of(gateway, again.trade_no) is None  # not flagged: nothing was quarantined


async def test_a_payment_after_expiry_is_kept_beside_its_own_order(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    """Paid a minute after the order ran out: no new order can have taken that amount, and the payment is
    flagged with the order whose slot it was, for a person to attach."""
    await add_code(gateway.app, terminal_id="T1")
    answer = await mapi(gateway, merchant, money="8.00")
    db = gateway.app[DB]
    async with db.transaction() as conn:  # the order ran out a minute ago
        await conn.execute("UPDATE orders SET created_at = created_at - 400000, expires_at = expires_at - 360000 "
                           "WHERE trade_no = ?", (answer["trade_no"],))
    await eventually(lambda: _is(gateway, answer["trade_no"], OrderStatus.EXPIRED), within=5)
    order = await get_order(db, answer["trade_no"])
    assert order is not None
    late = office.pay(order.account_id, 800, terminal_id="T1")
    again = await mapi(gateway, merchant, money="8.00")
    assert again["code"] == 1 and again["trade_no"] != answer["trade_no"]
    assert await eventually(lambda: _duplicate_of(gateway, late.trade_no), within=5) == answer["trade_no"]
    assert await _status(gateway, again["trade_no"]) is OrderStatus.PENDING
