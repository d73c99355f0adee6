"""The one place the console calls into other components (matching, notify, browser agent).

Each function names the admin as the actor and turns the component's refusal into ``ActionRefused`` with a
message for the page, so views never see another package's exception types.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from agent.accounts import AccountBook, classify
from agent.accounts.otp import deliver_otp
from agent.browser.agent import test_account
from agent.crypto import SecretBox
from agent.db import Database
from agent.matching import OrderStateError, attach_transaction, close_order, dismiss_transaction, mark_paid
from agent.notify import Notifier
from agent.polling.scheduler import PollScheduler
from agent.providers.base import ProviderError, ProviderTransaction
from agent.settings import Settings

log = structlog.get_logger(__name__)

TEST_WINDOW = timedelta(hours=24)


class ActionRefused(Exception):
    """The action cannot be done in the current state; the message is shown to the administrator."""


async def mark_order_paid(db: Database, trade_no: str, *, actor: str, reason: str) -> None:
    try:
        await mark_paid(db, trade_no, actor=actor, reason=reason)
    except OrderStateError as exc:
        raise ActionRefused(f"无法补单：{exc}") from exc


async def close(db: Database, trade_no: str, *, actor: str, reason: str) -> None:
    try:
        await close_order(db, trade_no, actor=actor, reason=reason)
    except OrderStateError as exc:
        raise ActionRefused(f"无法关闭：{exc}") from exc


async def resend_notify(notifier: Notifier, trade_no: str, *, actor: str) -> None:
    """Re-queue and wake the server's notify worker, so the merchant gets it now, not at the next idle check."""
    try:
        await notifier.resend(trade_no, actor=actor)
    except OrderStateError as exc:
        raise ActionRefused(f"无法重发通知：{exc}") from exc


async def attach(db: Database, transaction_id: int, trade_no: str, *, actor: str, reason: str) -> None:
    try:
        await attach_transaction(db, transaction_id, trade_no, actor=actor, reason=reason)
    except (OrderStateError, LookupError) as exc:
        raise ActionRefused(f"无法关联：{exc}") from exc


async def dismiss(db: Database, transaction_id: int, *, actor: str, reason: str) -> None:
    try:
        await dismiss_transaction(db, transaction_id, actor=actor, reason=reason)
    except (OrderStateError, LookupError) as exc:
        raise ActionRefused(f"无法忽略：{exc}") from exc


async def send_otp(db: Database, box: SecretBox, account_id: int, code: str) -> None:
    try:
        await deliver_otp(db, box, account_id, code)
    except (ValueError, LookupError) as exc:
        raise ActionRefused("验证码应为 4-8 位字母或数字") from exc


async def run_account_test(
    settings: Settings, db: Database, box: SecretBox, account_id: int
) -> list[ProviderTransaction]:
    """测试登录: log in and read the last day of payments, as ``mapay account test`` does; records health."""
    accounts = AccountBook(db, box)
    try:
        transactions = await test_account(settings, db, box, account_id, window=TEST_WINDOW)
    except ProviderError as exc:
        failure = classify(exc)
        await accounts.record_failure(account_id, failure)
        raise ActionRefused(f"测试失败：{failure.reason}（{exc or type(exc).__name__}）") from exc
    await accounts.record_ok(account_id)
    return transactions


async def retry_now(accounts: AccountBook, scheduler: PollScheduler | None, account_id: int) -> None:
    """立即重试: ask the running scheduler (this process's, or another's through the database) to read the
    account now, even when it waits for a person (a person is asking)."""
    try:
        await accounts.request_probe(account_id)
    except LookupError as exc:
        raise ActionRefused("账号不存在") from exc
    if scheduler is not None:
        scheduler.wake()
