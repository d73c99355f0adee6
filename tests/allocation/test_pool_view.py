"""The allocator keeps its view of the pool between orders; any change to the pool, from any writer, is seen."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from agent.allocation import Allocator, DuplicateOutTradeNo, OrderDraft
from agent.appkeys import DB
from agent.merchants import Merchant
from agent.orders import Order
from tests.allocation.pool_setup import add_code, pay_amounts
from tests.intake.epay_client import mapi
from tests.support.gateway import RunningGateway


@contextmanager
def other_process(gateway: RunningGateway) -> Iterator[sqlite3.Connection]:
    """A separate connection to the same file, as the CLI or a second process would write through."""
    conn = sqlite3.connect(gateway.app[DB].path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


async def _epoch(gateway: RunningGateway) -> int:
    return int(await gateway.app[DB].fetchval("SELECT epoch FROM allocation_epoch"))


async def test_a_code_disabled_elsewhere_gets_no_more_orders(gateway: RunningGateway, merchant: Merchant) -> None:
    first = await add_code(gateway, terminal_id="T1")
    second = await add_code(gateway, terminal_id="T2")
    await mapi(gateway, merchant, money="1.00")  # the view is now loaded with both codes
    with other_process(gateway) as conn:
        conn.execute("UPDATE codes SET enabled = 0 WHERE id = ?", (first.id,))
    for _ in range(3):
        await mapi(gateway, merchant, money="2.00")
    rows = await gateway.app[DB].fetchall("SELECT DISTINCT code_id FROM orders WHERE money_fen = 200")
    assert [row[0] for row in rows] == [second.id]


@pytest.mark.parametrize("settings_overrides", [{"amount_quarantine_seconds": 0}])
async def test_a_slot_freed_elsewhere_is_offered_again_without_offset(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway, terminal_id="T1")
    paid = (await mapi(gateway, merchant, money="5.00"))["trade_no"]
    with other_process(gateway) as conn:
        conn.execute("UPDATE orders SET status = 'paid' WHERE trade_no = ?", (paid,))
    await mapi(gateway, merchant, money="5.00")
    assert [amount for _, amount in await pay_amounts(gateway)] == [500]


async def test_a_slot_paid_elsewhere_is_quarantined(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    paid = (await mapi(gateway, merchant, money="5.00"))["trade_no"]
    with other_process(gateway) as conn:
        conn.execute("UPDATE orders SET status = 'paid' WHERE trade_no = ?", (paid,))
    await mapi(gateway, merchant, money="5.00")
    assert [amount for _, amount in await pay_amounts(gateway)] == [499]  # the live orders


async def test_an_order_inserted_elsewhere_is_not_offered_twice(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    template = (await mapi(gateway, merchant, money="7.00"))["trade_no"]
    with other_process(gateway) as conn:  # a copy of that order at 6.99, as another gateway process might place
        conn.execute(
            "INSERT INTO orders (trade_no, pid, out_trade_no, name, money_fen, pay_amount_fen, code_id, account_id, "
            "scope, status, created_at, expires_at, notify_url) SELECT 'elsewhere', pid, 'elsewhere', name, "
            "money_fen, 699, code_id, account_id, scope, status, created_at, expires_at, notify_url "
            "FROM orders WHERE trade_no = ?", (template,),
        )
    await mapi(gateway, merchant, money="7.00")
    assert sorted(amount for _, amount in await pay_amounts(gateway)) == [698, 699, 700]


async def test_a_rolled_back_batch_leaves_no_choice_behind(gateway: RunningGateway, merchant: Merchant) -> None:
    """A re-used out_trade_no in a batch rolls the whole insert back; the retried batch must not treat the
    slot chosen in the rolled-back attempt as taken (that order would get an offset for nothing)."""
    await add_code(gateway, terminal_id="T1")
    await mapi(gateway, merchant, money="3.00", out_trade_no="R1")
    allocator = Allocator(gateway.app[DB], gateway.settings)

    def draft(out_trade_no: str, money_fen: int) -> OrderDraft:
        return OrderDraft(merchant.pid, out_trade_no, "alipay", "n", money_fen, "http://127.0.0.1:9/notify")

    await allocator.create(draft("P1", 100))  # the allocator now holds a view
    # created together, so both drafts are placed in one batch
    fresh, again = await asyncio.gather(
        allocator.create(draft("F1", 800)), allocator.create(draft("R1", 300)), return_exceptions=True
    )
    assert isinstance(again, DuplicateOutTradeNo)
    assert isinstance(fresh, Order) and fresh.pay_amount_fen == 800


async def test_epoch_moves_with_pool_changes_and_only_with_them(gateway: RunningGateway, merchant: Merchant) -> None:
    code = await add_code(gateway, terminal_id="T1")
    trade_no = (await mapi(gateway, merchant, money="1.00"))["trade_no"]
    moving = [
        ("UPDATE codes SET daily_cap_fen = 100000 WHERE id = ?", code.id),
        ("UPDATE accounts SET health = 'degraded' WHERE id = ?", code.account_id),
        ("UPDATE accounts SET enabled = 1 WHERE id = ?", code.account_id),
        ("UPDATE orders SET status = 'closed' WHERE trade_no = ?", trade_no),
        ("UPDATE platforms SET has_terminal = 1 WHERE id = (SELECT platform_id FROM accounts WHERE id = ?)",
         code.account_id),
        ("DELETE FROM orders WHERE trade_no = ?", trade_no),
    ]
    still = [
        ("UPDATE accounts SET health_reason = 'x' WHERE id = ?", code.account_id),
        ("UPDATE orders SET provider_trade_no = 'p' WHERE code_id = ?", code.id),
    ]
    with other_process(gateway) as conn:
        for sql, key in moving:
            before = await _epoch(gateway)
            conn.execute(sql, (key,))
            assert await _epoch(gateway) > before, sql
        for sql, key in still:
            before = await _epoch(gateway)
            conn.execute(sql, (key,))
            assert await _epoch(gateway) == before, sql
