"""The domain errors of mapay, in one place. The hierarchy::

    MapayError                      what a table owner or the allocator refuses; str(exc) is the Chinese message to show
    ├── NotFound (LookupError)      a merchant, account, code or provider transaction named by id does not exist
    ├── OrderStateError             the order or provider transaction cannot take this action in its state
    │                               (missing, already paid, closed, already matched, not paid for a resend)
    ├── DuplicateOutTradeNo         the merchant's out_trade_no already has an order: apply the re-use rules
    ├── AllocationError             no order can be placed now; a Chinese message fit for the merchant
    │   ├── NoCodeAvailable         no enabled code at all
    │   ├── AccountsUnavailable     codes exist, but none of their accounts can take an order (says why)
    │   └── AmountsExhausted        every payable amount of this price is taken or quarantined
    ├── InvalidChange (ValueError)  a requested change to a row is not allowed as given
    │   └── CodeBusy                it would move a code's pending orders out of their matching scope
    └── AccountExists               the platform already has an account with this username
        (also a sqlite3.IntegrityError, so callers that caught sqlite's own error keep working)

Errors owned elsewhere, deliberately kept next to their code: ``agent.providers.base.ProviderError`` and its
subclasses (what a provider back office did; the accounts package classifies them), ``agent.web.requests.
BadRequest`` (malformed HTTP input), ``agent.intake.errors.IntakeError`` (an epay refusal in the protocol's
shape), ``agent.admin.actions.ActionRefused`` and ``agent.cli.errors.CliProblem`` (messages of one surface),
``agent.crypto.SecretKeyError`` and the profile format errors in ``agent.profiles``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

_NAMED_ACCOUNTS = 5  # the merchant's error names this many accounts, then counts the rest


class MapayError(Exception):
    """Base of the refusals of mapay's own components."""


class NotFound(MapayError, LookupError):
    """The row named by id does not exist."""


class OrderStateError(MapayError):
    """The order or transaction cannot take this action (missing, already paid, closed, already matched)."""


class DuplicateOutTradeNo(MapayError):
    """The merchant's order number already has an order: the caller applies the re-use rules."""


class AllocationError(MapayError):
    """No order can be placed now; ``str(exc)`` is a Chinese message fit for the merchant."""


class NoCodeAvailable(AllocationError):
    """There are no enabled codes at all."""

    def __init__(self) -> None:
        super().__init__("暂无可用的收款码，请稍后再试")


class AccountsUnavailable(AllocationError):
    """There are codes, but none of their accounts can take an order now; says why for each account."""

    def __init__(self, reasons: Sequence[str]) -> None:
        named = "；".join(reasons[:_NAMED_ACCOUNTS])
        more = f"等共 {len(reasons)} 个账号" if len(reasons) > _NAMED_ACCOUNTS else ""
        super().__init__(f"所有收款账号暂不可用：{named}{more}")
        self.reasons = list(reasons)


class AmountsExhausted(AllocationError):
    def __init__(self) -> None:
        super().__init__("该金额的可用收款名额已满，请稍后再试或更换金额")


class InvalidChange(MapayError, ValueError):
    """A requested change to a row is not allowed as given."""


class CodeBusy(InvalidChange):
    """The change would move a code's pending orders out of the matching scope their amounts were unique in."""


class AccountExists(MapayError, sqlite3.IntegrityError):
    """The platform already has an account with this username (raised in place of sqlite's own error, so
    callers that caught that keep working); ``existing_id`` is that account's id."""

    def __init__(self, platform: str, username: str, existing_id: int) -> None:
        super().__init__(
            f"{platform} 平台下用户名 {username} 已是账号 #{existing_id}：要改它请用 mapay account update {existing_id}"
        )
        self.existing_id = existing_id
