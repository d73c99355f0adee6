"""The pretend world around the gateway: provider accounts that live on simulated back offices.

Each account gets a merchant login on its platform's back office (``fixtures``), a mapay account whose
base URL points there, and one QR code whose terminal id is the one the back office records for the
payments the demo (or the benchmark) simulates.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import aiohttp

from agent.accounts import AccountBook
from agent.codes import CodeBook, make_least_recently_used
from agent.db import Database
from agent.platforms import shipped_platforms
from fixtures.client import ControlClient

PLATFORM_TITLES = {platform.slug: platform.name for platform in shipped_platforms()}
LOGIN_STYLES = {
    "shouqianba": "无验证码",
    "hkrt": "无验证码，登录后确认商户",
    "ysepay": "图片验证码（自动识别）",
    "zhihui": "图片验证码（自动识别），网页表格",
    "lakala": "滑块验证码（自动识别）",
    "shengpay": "短信验证码（演示中自动读取）",
}


@dataclass(frozen=True, slots=True)
class SimulatedAccount:
    """A mapay account and the merchant login it has on a simulated back office."""

    platform: str
    account_id: int
    code_id: int
    terminal_id: str
    username: str
    control: ControlClient

    @property
    def title(self) -> str:
        return PLATFORM_TITLES.get(self.platform, self.platform)

    async def pay(self, amount_fen: int, channel: str) -> dict[str, object]:
        """Record a payment on the back office, as if a payer had scanned this account's code."""
        return await self.control.pay(amount_fen, channel, self.terminal_id, username=self.username)


async def add_simulated_account(
    accounts: AccountBook, pool: CodeBook, platform: str, base_url: str, http: aiohttp.ClientSession, *, username: str, terminal_id: str
) -> SimulatedAccount:
    """Create the back-office login (random password) and the mapay account with one code pointing at it."""
    control = ControlClient(base_url, http)
    password = secrets.token_urlsafe(12)
    await control.merchant(username, password)
    account = await accounts.add_account(
        platform, f"{PLATFORM_TITLES.get(platform, platform)} {username}", username, password, base_url
    )
    code = await pool.add_code(
        account.id, payload=f"https://example.com/mapay-demo/{platform}/{terminal_id}",
        terminal_id=terminal_id, label=f"收款码 {terminal_id}",
    )
    return SimulatedAccount(platform, account.id, code.id, terminal_id, username, control)


async def put_first_in_line(db: Database, code_id: int) -> None:
    """Make ``code_id`` the least recently used code, so allocation offers it first (the demo's platform
    choice: mapi.php has no such field). The amount still decides: a code whose scope already holds the
    price loses to another code that is free at the exact price."""
    await make_least_recently_used(db, code_id)
