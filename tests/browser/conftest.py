"""Real Chromium against the simulated back offices: one browser for the session, a fresh back office,
database and account per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.accounts import AccountBook
from agent.accounts.otp import deliver_otp
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.crypto import SecretBox
from agent.db import Database
from agent.platforms import sync_platforms
from agent.providers.base import NeedsHuman, Provider
from agent.settings import SHIPPED_PROFILES_DIR, Settings
from fixtures.client import ControlClient
from fixtures.server import BackOffice, serve_fixture

PLATFORMS = ("shouqianba", "hkrt", "ysepay", "zhihui", "lakala", "shengpay")
USERNAME, PASSWORD = "13800000001", "S3cret-pass!"


def agent_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": SecretStr(Fernet.generate_key().decode()),
        "browser_timeout_seconds": 4,
        "browser_idle_seconds": 600,
        "browser_agent": False,  # these tests drive their own BrowserAgent; the app's would race it
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture(scope="session")
async def runtime(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserRuntime]:
    async with BrowserRuntime(agent_settings(tmp_path_factory.mktemp("runtime"))) as running:
        yield running


@dataclass
class Harness:
    """One platform's back office, a merchant login there and a mapay account pointing at it."""

    platform: str
    office: BackOffice
    control: ControlClient
    db: Database
    box: SecretBox
    settings: Settings
    runtime: BrowserRuntime | None  # None: the agent starts its own (e.g. to reach remote endpoints)
    account_id: int

    @asynccontextmanager
    async def agent(self) -> AsyncIterator[BrowserAgent]:
        """A browser agent as a fresh mapay process would have it (same data folder, shared Chromium)."""
        async with BrowserAgent(self.settings, self.db, self.box, runtime=self.runtime) as agent:
            yield agent

    async def provider(self, agent: BrowserAgent) -> Provider:
        return agent(await AccountBook(self.db, self.box).credentials(self.account_id))

    async def login(self, provider: Provider) -> None:
        """Log in; for the OTP platform, play the person who reads the SMS and types the code."""
        try:
            await provider.login()
        except NeedsHuman:
            assert self.platform == "shengpay", "only 盛付通 asks for a one-time code"
            await deliver_otp(self.db, self.box, self.account_id, await self.control.otp(USERNAME))
            await provider.login()

    async def stats(self) -> dict[str, int]:
        return await self.control.stats()


def quick_profiles(folder: Path, element_timeout_seconds: float | None = None,
                   captcha_attempts: int | None = None, transport: str | None = None) -> Path:
    """Copies of the shipped profiles without the poll spacing (tests read back to back) and, for fault
    tests, giving up on a missing element or a refused captcha sooner; ``transport: browser`` keeps the reads
    in the account's browser context (the runtime's tests: crashes, recycling, idle contexts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in SHIPPED_PROFILES_DIR.glob("*.yaml"):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        data["min_poll_interval_seconds"] = 0
        if transport is not None:
            data["transport"] = transport
        if element_timeout_seconds is not None:
            data["login"]["element_timeout_seconds"] = element_timeout_seconds
        for step in data["login"]["steps"] if captcha_attempts is not None else ():
            for kind in ("captcha", "slider"):
                if kind in step:
                    step[kind]["attempts"] = captcha_attempts
        (folder / source.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@asynccontextmanager
async def harness_for(platform: str, tmp_path: Path, runtime: BrowserRuntime | None,
                      **settings: object) -> AsyncIterator[Harness]:
    if "profiles_dir" not in settings:
        settings["profiles_dir"] = quick_profiles(tmp_path / "profiles")
    config = agent_settings(tmp_path / "data", **settings)
    box = SecretBox(config.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
    async with (
        serve_fixture(platform) as office,
        aiohttp.ClientSession() as http,
        Database(config.database_path) as db,
    ):
        await sync_platforms(db)
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        account = await AccountBook(db, box).add_account(platform, f"{platform} 测试", USERNAME, PASSWORD, office.url)
        yield Harness(platform, office, control, db, box, config, runtime, account.id)


@pytest.fixture(params=PLATFORMS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path, runtime: BrowserRuntime) -> AsyncIterator[Harness]:
    async with harness_for(request.param, tmp_path, runtime) as running:
        yield running
