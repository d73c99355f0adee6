"""The one place the console calls into other components (matching, notify, browser agent).

Each function names the admin as the actor and turns the component's refusal into ``ActionRefused`` with a
message for the page, so views never see another package's exception types.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from agent.browser.agent import test_account
from agent.browser.otp import deliver_otp
from agent.crypto import SecretBox
from agent.db import Database
from agent.matching import OrderStateError, attach_transaction, close_order, dismiss_transaction, mark_paid
from agent.notify import Notifier
from agent.pool import Pool
from agent.providers.base import (
    AuthFailed,
    HealthState,
    LayoutChanged,
    NeedsHuman,
    ProviderError,
    ProviderTransaction,
)
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


_HEALTH_AFTER = ((AuthFailed, HealthState.LOGIN_FAILED), (NeedsHuman, HealthState.NEEDS_HUMAN))


async def run_account_test(
    settings: Settings, db: Database, box: SecretBox, account_id: int
) -> list[ProviderTransaction]:
    """测试登录: log in and read the last day of payments, as ``mapay account test`` does; records health."""
    pool = Pool(db, box)
    try:
        transactions = await test_account(settings, db, box, account_id, window=TEST_WINDOW)
    except ProviderError as exc:
        state = next((s for kind, s in _HEALTH_AFTER if isinstance(exc, kind)), HealthState.DEGRADED)
        await pool.set_health(account_id, state, str(exc) or type(exc).__name__)
        prefix = "页面结构已变化：" if isinstance(exc, LayoutChanged) else ""
        raise ActionRefused(f"测试失败：{prefix}{exc or type(exc).__name__}") from exc
    await pool.set_health(account_id, HealthState.OK, None)
    return transactions
