"""The only writer of orders.status: 补单, close and expiry (confirming by a payment: tests/matching)."""

from __future__ import annotations

import json

import pytest

from agent.appkeys import DB
from agent.db import now_ms
from agent.errors import OrderStateError
from agent.matching import match_account
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from agent.orders.transitions import close_order, expire_overdue, mark_paid
from agent.provider_transactions import record_transactions
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import transaction

SKEW = 30_000
GRACE = 600_000


async def test_mark_paid_by_hand_is_audited_and_queues_a_notify(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code)

    paid = await mark_paid(db, order.trade_no, actor="cli", reason="付款截图已核对", provider_trade_no="X1")

    assert paid.status is OrderStatus.PAID and paid.provider_trade_no == "X1" and paid.paid_at is not None
    audit = await db.fetchone("SELECT actor, action, target, detail FROM audit_log")
    assert audit is not None and tuple(audit)[:3] == ("cli", "order.mark_paid", order.trade_no)
    assert json.loads(audit["detail"])["reason"] == "付款截图已核对"
    assert await db.fetchval("SELECT count(*) FROM notify_jobs") == 1
    assert await db.fetchval("SELECT count(*) FROM provider_transactions") == 0


async def test_mark_paid_refuses_paid_or_closed_orders_and_changes_nothing(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    closed = await insert_order(gateway.app, merchant, code, status="closed")
    with pytest.raises(OrderStateError, match="当前为已关闭，只有待支付或已过期的订单可以确认付款"):
        await mark_paid(db, closed.trade_no, actor="cli", reason="x")
    with pytest.raises(OrderStateError, match="订单 NOPE 不存在"):
        await mark_paid(db, "NOPE", actor="cli", reason="x")
    with pytest.raises(ValueError, match="必须填写原因"):
        await mark_paid(db, closed.trade_no, actor="cli", reason=" ")
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0
    assert await db.fetchval("SELECT count(*) FROM notify_jobs") == 0


async def test_close_order(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code)
    closed = await close_order(db, order.trade_no, actor="cli", reason="买家取消")
    assert closed.status is OrderStatus.CLOSED
    assert await db.fetchval("SELECT action FROM audit_log") == "order.close"
    with pytest.raises(OrderStateError, match="当前为已关闭，只有待支付的订单可以关闭"):
        await close_order(db, order.trade_no, actor="cli")
    # A closed order frees its amount slot: a payment of that amount confirms nothing.
    await record_transactions(db, code.account_id, [transaction(1000, order.created_at + 1)])
    assert await match_account(db, code.account_id, skew_ms=SKEW, grace_ms=GRACE) == []


async def test_expire_overdue_respects_the_skew(gateway: RunningGateway, merchant: Merchant) -> None:
    db = gateway.app[DB]
    code = await add_code(gateway.app)
    now = now_ms()
    overdue = await insert_order(gateway.app, merchant, code, created_at=now - 400_000, ttl_ms=300_000)
    in_skew = await insert_order(gateway.app, merchant, code, money_fen=2000, created_at=now - 310_000,
                                 ttl_ms=300_000)
    assert await expire_overdue(db, skew_ms=SKEW, now=now) == 1
    assert [(await get_order(db, o.trade_no)).status for o in (overdue, in_skew)] == [  # type: ignore[union-attr]
        OrderStatus.EXPIRED, OrderStatus.PENDING]
