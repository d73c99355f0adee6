"""What the administrator reads when the console refuses an action: the action and the reason, both in Chinese."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from agent.admin import actions
from agent.appkeys import DB
from agent.matching import record_transactions
from agent.merchants import Merchant
from agent.notify import NOTIFIER
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import transaction

ACTOR = "admin:ops"


async def _refusal(action: Callable[[], Awaitable[None]]) -> str:
    with pytest.raises(actions.ActionRefused) as refused:
        await action()
    return str(refused.value)


async def test_refused_actions_name_the_row_and_its_state_in_chinese(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    app = gateway.app
    db = app[DB]
    code = await add_code(app)
    closed = await insert_order(app, merchant, code, status="closed")
    no = closed.trade_no
    assert await _refusal(lambda: actions.mark_order_paid(db, no, actor=ACTOR, reason="截图")) == (
        f"无法补单：订单 {no} 当前为已关闭，只有待支付或已过期的订单可以确认付款"
    )
    assert await _refusal(lambda: actions.close(db, no, actor=ACTOR, reason="")) == (
        f"无法关闭：订单 {no} 当前为已关闭，只有待支付的订单可以关闭"
    )
    assert await _refusal(lambda: actions.resend_notify(app[NOTIFIER], no, actor=ACTOR)) == (
        f"无法重发通知：订单 {no} 当前为已关闭，只有已支付的订单会发送通知"
    )
    assert await _refusal(lambda: actions.attach(db, 999, no, actor=ACTOR, reason="x")) == "无法关联：收款流水 999 不存在"
    assert await _refusal(lambda: actions.dismiss(db, 999, actor=ACTOR, reason="x")) == "无法忽略：收款流水 999 不存在"

    # A payment already matched to one order cannot pay a second one.
    first = await insert_order(app, merchant, code, money_fen=1000)
    paid = transaction(1000, first.created_at + 1_000)
    await record_transactions(db, code.account_id, [paid])
    tx_id = await db.fetchval("SELECT id FROM provider_transactions")
    await actions.attach(db, tx_id, first.trade_no, actor=ACTOR, reason="人工关联")
    second = await insert_order(app, merchant, code, money_fen=2000)
    assert await _refusal(lambda: actions.attach(db, tx_id, second.trade_no, actor=ACTOR, reason="x")) == (
        f"无法关联：收款流水（流水号 {paid.trade_no}）已匹配到订单，不能重复使用"
    )
