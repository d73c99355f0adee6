"""What an account's provider may ask of the gateway: a narrow set of services, not the whole browser agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import BrowserContext

from agent.accounts.sessions import SessionStore
from agent.browser.logins import LoginGate
from agent.captcha import CaptchaSolver
from agent.settings import Settings


@dataclass(frozen=True, slots=True)
class LoginServices:
    """What an account's provider needs from the gateway, and nothing more (not the whole agent)."""

    settings: Settings
    new_context: Callable[[int, dict[str, Any] | None], Awaitable[BrowserContext]]
    solver: CaptchaSolver
    take_otp: Callable[[int, int], Awaitable[str | None]]  # (account id, sent after ms) -> the typed code
    sessions: SessionStore
    gate: LoginGate
    mark_storage_failed: Callable[[BaseException], bool]  # True when a full disk explains the error
    on_login_step: Callable[[int, str], None] | None = None  # (account id, step label) as each login step starts
