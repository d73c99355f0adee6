"""The watcher turns database state into alerts the owner can act on, each sent once per condition."""

from __future__ import annotations

import asyncio

import pytest

from agent.accounts import Failure, FailureClass
from agent.alerts import ALERTER, messages
from agent.alerts.watcher import UNMATCHED_SETTLE_MS
from agent.appkeys import ACCOUNTS, DB
from agent.db import now_ms
from agent.matching import flag_duplicates, record_transactions
from agent.merchants import Merchant
from agent.providers.base import HealthState
from tests.alerts.conftest import ROUNDS_SECONDS
from tests.support.alert_receiver import AlertReceiver
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import transaction


async def _account(gateway: RunningGateway, platform: str = "shengpay") -> int:
    return (await add_code(gateway.app, platform=platform)).account_id


_CLASS = {HealthState.NEEDS_HUMAN: FailureClass.NEEDS_CODE, HealthState.LOGIN_FAILED: FailureClass.REFUSED,
          HealthState.DEGRADED: FailureClass.LAYOUT}


async def _set_health(gateway: RunningGateway, account_id: int, state: HealthState, reason: str = "") -> None:
    """As the poll scheduler records a job's outcome."""
    if state is HealthState.OK:
        await gateway.app[ACCOUNTS].record_ok(account_id)
    else:
        await gateway.app[ACCOUNTS].record_failure(account_id, Failure(state, _CLASS[state], reason))


async def _one_alert(receiver: AlertReceiver) -> str:
    """Wait for the first alert, let the watcher run a few more rounds, and insist nothing was repeated."""
    await eventually(lambda: receiver.received)
    await asyncio.sleep(ROUNDS_SECONDS)
    assert len(receiver.received) == 1, receiver.texts()
    return receiver.texts()[0]


async def test_an_account_waiting_for_a_one_time_code_alerts_once_with_the_otp_command(
    gateway: RunningGateway, receiver: AlertReceiver
) -> None:
    account_id = await _account(gateway)
    await _set_health(gateway, account_id, HealthState.NEEDS_HUMAN, "短信验证码已发送至 138****0000")
    text = await _one_alert(receiver)
    assert receiver.received[0]["type"] == "warning"
    assert "需要验证码" in text and "测试门店" in text and "盛付通" in text and "138****0000" in text
    assert f"mapay account otp {account_id} <验证码>" in text
    assert f"{gateway.url}/admin/accounts/{account_id}" in text


async def test_a_refused_login_alerts_once_with_the_password_update_command(
    gateway: RunningGateway, receiver: AlertReceiver
) -> None:
    account_id = await _account(gateway, platform="lakala")
    await _set_health(gateway, account_id, HealthState.LOGIN_FAILED, "用户名或密码错误")
    text = await _one_alert(receiver)
    assert receiver.received[0]["type"] == "failure"
    assert "登录被拒绝，请检查密码" in text and "测试门店" in text and "拉卡拉" in text and "用户名或密码错误" in text
    assert f"mapay account update {account_id} --password-stdin" in text
    assert f"{gateway.url}/admin/accounts/{account_id}" in text


async def test_a_degraded_account_alerts_only_once_it_stayed_degraded_past_the_threshold(
    gateway: RunningGateway, receiver: AlertReceiver
) -> None:
    account_id = await _account(gateway, platform="zhihui")
    await _set_health(gateway, account_id, HealthState.DEGRADED, "transactions: 表格列 金额 不存在")
    await asyncio.sleep(ROUNDS_SECONDS)
    assert receiver.received == []  # degraded for a moment is the poller's business, not the owner's

    async with gateway.app[DB].transaction() as conn:  # failing for 61 s now (threshold 60 s)
        await conn.execute("UPDATE accounts SET failing_since = ? WHERE id = ?", (now_ms() - 61_000, account_id))
    text = await _one_alert(receiver)
    assert "账号读取异常" in text and "数字门店" in text and "1 分钟" in text and "页面结构变化" in text
    assert "transactions: 表格列 金额 不存在" in text and f"/admin/accounts/{account_id}" in text


async def test_recovery_is_announced_and_a_second_failure_alerts_again(
    gateway: RunningGateway, receiver: AlertReceiver
) -> None:
    account_id = await _account(gateway)
    await _set_health(gateway, account_id, HealthState.NEEDS_HUMAN, "需要短信验证码")
    await eventually(lambda: receiver.titled("需要验证码"))
    await _set_health(gateway, account_id, HealthState.OK)
    recovered = await eventually(lambda: receiver.titled("已恢复"))
    assert recovered[0]["type"] == "success" and "测试门店" in recovered[0]["message"]

    await _set_health(gateway, account_id, HealthState.NEEDS_HUMAN, "需要短信验证码")  # a new code is needed
    await eventually(lambda: len(receiver.titled("需要验证码")) == 2)
    await asyncio.sleep(ROUNDS_SECONDS)
    assert [alert["title"].split("：")[0] for alert in receiver.received] == ["需要验证码", "已恢复", "需要验证码"]


async def test_a_hiccup_never_alerted_sends_no_recovery(gateway: RunningGateway, receiver: AlertReceiver) -> None:
    account_id = await _account(gateway)
    await _set_health(gateway, account_id, HealthState.DEGRADED, "poll timed out")
    await asyncio.sleep(ROUNDS_SECONDS)
    await _set_health(gateway, account_id, HealthState.OK)
    await asyncio.sleep(ROUNDS_SECONDS)
    assert receiver.received == []


async def _notify_job(gateway: RunningGateway, trade_no: str, *, age_minutes: float, status: str = "failed") -> None:
    """The job as the notifier leaves it after giving up ('failed': the running worker leaves it alone)."""
    created = now_ms() - int(age_minutes * 60_000)
    async with gateway.app[DB].transaction() as conn:
        await conn.execute(
            "INSERT INTO notify_jobs (trade_no, status, attempts, next_attempt_at, last_error, created_at, updated_at) "
            "VALUES (?, ?, 15, ?, 'HTTP 500', ?, ?)",
            (trade_no, status, created, created, created),
        )


async def test_an_unacknowledged_notify_alerts_once_with_the_resend_command_and_clears_when_acked(
    gateway: RunningGateway, receiver: AlertReceiver, merchant: Merchant
) -> None:
    code = await add_code(gateway.app)
    stale = await insert_order(gateway.app, merchant, code, money_fen=1234, status="paid")
    fresh = await insert_order(gateway.app, merchant, code, money_fen=500, status="paid")
    await _notify_job(gateway, stale.trade_no, age_minutes=31)
    await _notify_job(gateway, fresh.trade_no, age_minutes=5)  # still within the 30 minutes
    text = await _one_alert(receiver)
    assert f"mapay notify resend {stale.trade_no}" in text and fresh.trade_no not in text
    assert "测试商户" in text and f"pid {merchant.pid}" in text and stale.out_trade_no in text
    assert "12.34 元" in text and "HTTP 500" in text

    alerter = gateway.app[ALERTER]
    key = messages.notify_key(stale.trade_no)
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE notify_jobs SET status = 'acked' WHERE trade_no = ?", (stale.trade_no,))
    await eventually(lambda: not alerter.is_active(key))
    async with gateway.app[DB].transaction() as conn:  # resent by hand, and refused again
        await conn.execute("UPDATE notify_jobs SET status = 'failed' WHERE trade_no = ?", (stale.trade_no,))
    await eventually(lambda: len(receiver.received) == 2)


async def test_many_unacknowledged_notifies_are_one_grouped_alert(
    gateway: RunningGateway, receiver: AlertReceiver, merchant: Merchant
) -> None:
    code = await add_code(gateway.app)
    orders = [await insert_order(gateway.app, merchant, code, money_fen=100 + n, status="paid") for n in range(6)]
    for order in orders:
        await _notify_job(gateway, order.trade_no, age_minutes=45)
    text = await _one_alert(receiver)
    assert "6 笔订单回调未确认" in text
    assert all(f"mapay notify resend {order.trade_no}" in text for order in orders)


async def test_a_new_unmatched_payment_alerts_once_with_exact_yuan_and_what_to_do(
    gateway: RunningGateway, receiver: AlertReceiver
) -> None:
    code = await add_code(gateway.app)
    db = gateway.app[DB]
    payment = transaction(4990, now_ms() - 60_000)
    await record_transactions(db, code.account_id, [payment])
    async with db.transaction() as conn:  # recorded just long enough ago for the matcher to have had its turn
        await conn.execute(
            "UPDATE provider_transactions SET seen_at = ? WHERE provider_trade_no = ?",
            (now_ms() - UNMATCHED_SETTLE_MS + 300, payment.trade_no),
        )
    payment_id = await db.fetchval("SELECT id FROM provider_transactions WHERE provider_trade_no = ?", (payment.trade_no,))
    text = await _one_alert(receiver)
    assert "49.90 元" in text and "测试门店" in text and "收钱吧" in text and "支付宝" in text and payment.trade_no in text
    assert f"mapay transaction attach {payment_id} <订单号> --reason" in text
    assert f"mapay transaction dismiss {payment_id} --reason" in text
    assert f"{gateway.url}/admin/unmatched" in text


@pytest.mark.parametrize(("ended", "title"), [("paid", "疑似重复付款：10.00 元"), ("expired", "订单已过期后收到付款")])
async def test_a_payment_on_a_quarantined_slot_names_its_order(
    gateway: RunningGateway, merchant: Merchant, receiver: AlertReceiver, ended: str, title: str
) -> None:
    """The payer paid twice (or after the order ended): the alert names the order and where to look."""
    code = await add_code(gateway.app, terminal_id="T1")
    order = await insert_order(gateway.app, merchant, code, money_fen=1000)
    db = gateway.app[DB]
    async with db.transaction() as conn:  # the order ends: its slot is quarantined by the database
        await conn.execute("UPDATE orders SET status = ? WHERE trade_no = ?", (ended, order.trade_no))
    payment = transaction(1000, now_ms(), terminal_id="T1")
    await record_transactions(db, code.account_id, [payment])
    assert await flag_duplicates(db, code.account_id) == 1
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE provider_transactions SET seen_at = ? WHERE provider_trade_no = ?",
            (now_ms() - UNMATCHED_SETTLE_MS + 300, payment.trade_no),
        )
    text = await _one_alert(receiver)
    assert title in text and order.trade_no in text and f"{gateway.url}/admin/orders/{order.trade_no}" in text

