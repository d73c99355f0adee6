"""Confirmation in the real database: recorded transactions, matched orders, outbox rows, manual paths."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.appkeys import DB
from agent.db import Database, now_ms
from agent.matching import (
    OrderStateError,
    attach_transaction,
    match_account,
    record_transactions,
)
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from agent.providers.base import Channel
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import transaction

SKEW = 30_000
GRACE = 600_000


async def confirm_all(db: Database, account_id: int) -> list[str]:
    return [c.trade_no for c in await match_account(db, account_id, skew_ms=SKEW, grace_ms=GRACE)]


async def snapshot(db: Database) -> list[list[tuple[object, ...]]]:
    """Orders, transactions and which orders have an outbox row (the worker may be sending meanwhile)."""
    queries = ("SELECT * FROM orders", "SELECT * FROM provider_transactions", "SELECT trade_no FROM notify_jobs")
    return [[tuple(row) for row in await db.fetchall(f"{q} ORDER BY rowid")] for q in queries]


async def test_a_matching_transaction_pays_the_order_and_queues_its_notify(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code, money_fen=1000, pay_amount_fen=999)
    tx = transaction(999, order.created_at + 5_000)
    assert await record_transactions(db, code.account_id, [tx]) == 1

    assert await confirm_all(db, code.account_id) == [order.trade_no]

    paid = await get_order(db, order.trade_no)
    assert paid is not None and paid.status is OrderStatus.PAID
    assert (paid.paid_at, paid.provider_trade_no) == (order.created_at + 5_000, tx.trade_no)
    row = await db.fetchone("SELECT status, order_trade_no, raw FROM provider_transactions")
    assert row is not None and (row["status"], row["order_trade_no"]) == ("matched", order.trade_no)
    assert json.loads(row["raw"]) == dict(tx.raw)
    assert await db.fetchval("SELECT count(*) FROM notify_jobs WHERE trade_no = ?", (order.trade_no,)) == 1


async def test_re_reading_the_same_records_changes_nothing(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code)
    txs = [transaction(1000, order.created_at + 1_000), transaction(5, order.created_at + 2_000)]
    await record_transactions(db, code.account_id, txs)
    await confirm_all(db, code.account_id)
    before = await snapshot(db)

    assert await record_transactions(db, code.account_id, txs) == 0
    assert await confirm_all(db, code.account_id) == []
    assert await snapshot(db) == before
    unmatched = await db.fetchval("SELECT count(*) FROM provider_transactions WHERE status = 'unmatched'")
    assert unmatched == 1  # the 5-fen payment waits for manual review


async def test_a_recently_expired_order_still_takes_a_late_payment(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    created = now_ms() - 400_000
    order = await insert_order(gateway.app, merchant, code, created_at=created, ttl_ms=300_000, status="expired")
    await record_transactions(db, code.account_id, [transaction(1000, created + 310_000)])
    assert await confirm_all(db, code.account_id) == [order.trade_no]


async def test_orders_expired_beyond_the_grace_time_are_no_candidates(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    created = now_ms() - 300_000 - GRACE - 60_000
    await insert_order(gateway.app, merchant, code, created_at=created, ttl_ms=300_000, status="expired")
    await record_transactions(db, code.account_id, [transaction(1000, created + 1_000)])
    assert await confirm_all(db, code.account_id) == []


async def test_closed_orders_and_other_accounts_are_never_confirmed(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    code, other = await add_code(gateway.app), await add_code(gateway.app)
    closed = await insert_order(gateway.app, merchant, code, status="closed")
    await insert_order(gateway.app, merchant, other, money_fen=2000)
    await record_transactions(db, code.account_id, [transaction(1000, closed.created_at + 1), transaction(
        2000, closed.created_at + 1)])
    assert await confirm_all(db, code.account_id) == []


async def test_the_channel_must_fit_the_order_type(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code, type="wxpay")
    await record_transactions(db, code.account_id, [transaction(1000, order.created_at + 1)])
    assert await confirm_all(db, code.account_id) == []
    await record_transactions(
        db, code.account_id, [transaction(1000, order.created_at + 2, channel=Channel.WXPAY)]
    )
    assert await confirm_all(db, code.account_id) == [order.trade_no]


async def test_attach_an_unmatched_transaction(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code, pay_amount_fen=990)
    wrong_amount = transaction(1000, order.created_at + 1_000)  # the payer ignored the offset
    await record_transactions(db, code.account_id, [wrong_amount])
    assert await confirm_all(db, code.account_id) == []
    tx_id = await db.fetchval("SELECT id FROM provider_transactions")

    paid = await attach_transaction(db, tx_id, order.trade_no, actor="admin:ops", reason="付款金额未减优惠")

    assert paid.status is OrderStatus.PAID and paid.provider_trade_no == wrong_amount.trade_no
    row = await db.fetchone("SELECT status, order_trade_no FROM provider_transactions WHERE id = ?", (tx_id,))
    assert row is not None and tuple(row) == ("matched", order.trade_no)
    detail = json.loads(await db.fetchval("SELECT detail FROM audit_log WHERE action = 'order.attach_transaction'"))
    assert detail["amount_fen"] == 1000

    another = await insert_order(gateway.app, merchant, code, money_fen=1000)
    with pytest.raises(OrderStateError, match="已匹配到订单，不能重复使用"):
        await attach_transaction(db, tx_id, another.trade_no, actor="cli", reason="again")
    still = await get_order(db, another.trade_no)
    assert still is not None and still.status is OrderStatus.PENDING
    with pytest.raises(LookupError):
        await attach_transaction(db, 999_999, another.trade_no, actor="cli", reason="x")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-60, 400), st.sampled_from(["T1", "T2", None])), max_size=8),
    st.randoms(),
)
async def test_recording_and_matching_twice_in_any_order_is_idempotent(
    gateway: RunningGateway, merchant: Merchant, records: list[tuple[int, int, str | None]], rnd: object
) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    await add_code(gateway.app, account_id=code.account_id, terminal_id="T2")
    base = now_ms() - 200_000
    for i in range(3):
        await insert_order(gateway.app, merchant, code, money_fen=1000 + i, created_at=base + i * 50_000)
    txs = [transaction(1000 + amount, base + seconds * 1000, terminal_id=terminal)
           for amount, seconds, terminal in records]
    await record_transactions(db, code.account_id, txs)
    first = await confirm_all(db, code.account_id)
    before = await snapshot(db)
    rnd.shuffle(txs)  # type: ignore[attr-defined]
    await record_transactions(db, code.account_id, txs)
    assert await confirm_all(db, code.account_id) == []
    assert await snapshot(db) == before
    orders_paid = await db.fetchval(
        "SELECT count(*) FROM orders WHERE account_id = ? AND status = 'paid'", (code.account_id,)
    )
    assert orders_paid == len(first) == len(set(first))
