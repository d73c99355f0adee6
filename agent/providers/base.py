"""The Provider interface: the only thing the matcher, the poll scheduler and the notifier know of a provider.

A provider is one logged-in merchant account at one platform. The browser agent implements it by driving
the platform's back office; tests implement it in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Channel(StrEnum):
    """Pay channels, named like epay's ``type`` values so an order's type compares directly."""

    ALIPAY = "alipay"
    WXPAY = "wxpay"
    QQPAY = "qqpay"
    BANK = "bank"  # UnionPay / cloud QuickPass


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # works partly: transient errors, or a profile step no longer matches the page
    LOGIN_FAILED = "login_failed"  # the provider refused the credentials: no retry until a person acts
    NEEDS_HUMAN = "needs_human"  # waiting for a one-time code or another human step


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderTransaction:
    """One successful payment as the provider's records show it, normalised."""

    trade_no: str
    amount_fen: int
    channel: Channel
    paid_at: datetime  # timezone-aware
    terminal_id: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.paid_at.tzinfo is None:
            raise ValueError("paid_at must be timezone-aware")
        if self.amount_fen <= 0:
            raise ValueError("amount_fen must be positive")


class ProviderError(Exception):
    """Base of every failure a provider reports; subclasses tell the scheduler what to do next."""


class TransientError(ProviderError):
    """Network error, 5xx, rate limiting, slow answer: retry later with backoff."""


class CaptchaUnsolved(TransientError):
    """Every captcha picture of a login was refused or unreadable: a later try may read better, a person can
    solve it now through 人工接管."""


class SessionExpired(ProviderError):
    """The provider no longer accepts our session: log in again (once per job)."""


class AuthFailed(ProviderError):
    """Credentials refused or account locked: stop polling this account until a person fixes it."""


class NeedsHuman(ProviderError):
    """A human step (one-time code) is required before the login can continue."""


class HumanCheck(NeedsHuman):
    """The provider asks for what only a person can do: a captcha kind the solver cannot read ("click the
    characters in order"), a risk check. Not retried; a person logs in through 人工接管 (the live view)."""


class LayoutChanged(ProviderError):
    """A profile step no longer matches the provider's page or API: the profile needs repair."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


@runtime_checkable
class Provider(Protocol):
    """A provider account mapay can log into and read payments from."""

    async def login(self) -> None:
        """Establish (or restore) a session; raises AuthFailed, NeedsHuman, TransientError, LayoutChanged."""

    async def fetch_transactions(self, since: datetime, until: datetime) -> list[ProviderTransaction]:
        """Every successful payment with ``since <= paid_at <= until``, across all pages.

        Raises SessionExpired when the session is gone, so the caller can log in again and retry.
        """

    def health(self) -> Health:
        """The account's health as last observed."""


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """What a provider needs to log in as one account (the password already decrypted)."""

    account_id: int
    platform: str  # platform slug == profile name
    username: str
    password: str = field(repr=False)
    base_url: str | None = None


class ProviderFactory(Protocol):
    """Builds the Provider for an account; the scheduler calls it once per account and keeps the result."""

    def __call__(self, account: AccountCredentials) -> Provider: ...
