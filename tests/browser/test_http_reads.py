"""A browser to log in, plain HTTP to read: on every simulated platform the reads open no page and hold no
context, a session the provider drops costs exactly one browser login, a restart logs in not at all; a
profile that says ``transport: browser`` still reads in its context; token refresh works both ways."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from agent.accounts import AccountBook
from agent.browser.runtime import BrowserRuntime
from agent.providers.base import SessionExpired
from agent.providers.browser import BrowserProvider
from tests.browser.conftest import PASSWORD, Harness, harness_for, quick_profiles

pytestmark = pytest.mark.browser


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(seconds=5)


@dataclass
class Opened:
    """Browser contexts and pages opened through the runtime since the watch began."""

    contexts: int = 0
    pages: int = 0


def watch_browser(runtime: BrowserRuntime, monkeypatch: pytest.MonkeyPatch) -> Opened:
    opened = Opened()
    new_context = runtime.new_context

    async def counted(account_id: int, storage_state: dict[str, Any] | None = None) -> BrowserContext:
        context = await new_context(account_id, storage_state)
        opened.contexts += 1

        def page_opened(_: Page) -> None:
            opened.pages += 1

        context.on("page", page_opened)
        return context

    monkeypatch.setattr(runtime, "new_context", counted)
    return opened


async def test_reads_after_the_login_open_no_page_and_hold_no_context(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert harness.runtime is not None
    opened = watch_browser(harness.runtime, monkeypatch)
    payment = await harness.control.pay(1234, "alipay", "T001")
    async with harness.agent() as agent:
        provider = await harness.provider(agent)
        await harness.login(provider)
        after_login = (opened.contexts, opened.pages)
        assert after_login[0] >= 1 and after_login[1] >= 1  # the login itself ran in the browser
        assert agent.live_contexts == 0  # and its context is gone
        calls = (await harness.stats())["transaction_calls"]
        for _ in range(3):
            found = await provider.fetch_transactions(*window())
            assert [tx.trade_no for tx in found] == [payment["trade_no"]]
        assert (opened.contexts, opened.pages) == after_login
        assert agent.live_contexts == 0
        assert (await harness.stats())["transaction_calls"] - calls == 3


async def test_a_session_the_provider_drops_costs_exactly_one_browser_login(harness: Harness) -> None:
    async with harness.agent() as agent:
        provider = await harness.provider(agent)
        await harness.login(provider)
        await provider.fetch_transactions(*window())
        await harness.control.fault("revoke_sessions")
        with pytest.raises(SessionExpired):
            await provider.fetch_transactions(*window())
        assert isinstance(provider, BrowserProvider) and not provider.session.usable
        assert await agent.sessions.load(harness.account_id) is None  # the dead session is not kept
        payment = await harness.control.pay(2468, "wxpay", "T002")
        await harness.login(provider)
        await provider.login()  # logged in already: nothing to do
        found = await provider.fetch_transactions(*window())
        assert [tx.trade_no for tx in found] == [payment["trade_no"]]
        assert agent.live_contexts == 0
    assert (await harness.stats())["logins"] == 2


async def test_the_session_survives_a_restart_without_a_login_or_a_browser(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert harness.runtime is not None
    async with harness.agent() as agent:
        await harness.login(await harness.provider(agent))
    opened = watch_browser(harness.runtime, monkeypatch)
    payment = await harness.control.pay(1357, "bank", "T003")
    async with harness.agent() as agent:  # a new process: same data folder
        provider = await harness.provider(agent)
        await provider.login()
        found = await provider.fetch_transactions(*window())
    assert [tx.trade_no for tx in found] == [payment["trade_no"]]
    assert (opened.contexts, opened.pages) == (0, 0)
    assert (await harness.stats())["logins"] == 1


async def test_a_profile_that_reads_in_the_browser_keeps_its_context_and_reads(
    tmp_path: Path, runtime: BrowserRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = watch_browser(runtime, monkeypatch)
    profiles = quick_profiles(tmp_path / "profiles", transport="browser")
    async with harness_for("hkrt", tmp_path, runtime, profiles_dir=profiles) as harness, \
            harness.agent() as agent:
        provider = await harness.provider(agent)
        await provider.login()
        payment = await harness.control.pay(999, "alipay", "T004")
        found = await provider.fetch_transactions(*window())
        assert [tx.trade_no for tx in found] == [payment["trade_no"]]
        assert agent.live_contexts == 1 and opened.contexts == 1  # the login's context reads on
        await harness.control.fault("revoke_sessions")
        with pytest.raises(SessionExpired):
            await provider.fetch_transactions(*window())
        await provider.login()
        assert [tx.trade_no for tx in await provider.fetch_transactions(*window())] == [payment["trade_no"]]
        assert (await harness.stats())["logins"] == 2


@pytest.mark.parametrize("transport", ["http", "browser"])
async def test_a_token_near_its_expiry_is_refreshed_without_a_login(
    tmp_path: Path, runtime: BrowserRuntime, transport: str
) -> None:
    profiles = quick_profiles(tmp_path / "profiles", transport=transport)
    async with harness_for("shouqianba", tmp_path, runtime, profiles_dir=profiles) as harness:
        await harness.control.settings(session_ttl_seconds=61)  # 收钱吧 renews within 60 s of the end
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            await provider.login()
            await asyncio.sleep(1.2)
            payment = await harness.control.pay(4321, "wxpay", "T005")
            found = await provider.fetch_transactions(*window())
            assert [tx.trade_no for tx in found] == [payment["trade_no"]]
            saved = await agent.sessions.load(harness.account_id)
        assert saved is not None and saved.refreshed_at is not None  # the renewed token was saved
        async with harness.agent() as agent:  # and a restart reads with it
            provider = await harness.provider(agent)
            await provider.login()
            assert [tx.trade_no for tx in await provider.fetch_transactions(*window())] == [payment["trade_no"]]
        stats = await harness.stats()
        assert (stats["logins"], stats["refreshes"]) == (1, 1)


async def test_no_more_browser_logins_run_at_once_than_the_cap(tmp_path: Path, runtime: BrowserRuntime) -> None:
    async with harness_for("hkrt", tmp_path, runtime, login_concurrency=2) as harness:
        book = AccountBook(harness.db, harness.box)
        ids = [harness.account_id]
        for n in range(5):
            username = f"1390000000{n}"
            await harness.control.merchant(username, PASSWORD)
            account = await book.add_account("hkrt", f"码钱 {n}", username, PASSWORD, harness.office.url)
            ids.append(account.id)
        await harness.control.settings(login_page_delay_seconds=0.5)  # every login is at least this long
        async with harness.agent() as agent:
            providers = [agent(await book.credentials(account_id)) for account_id in ids]
            await asyncio.gather(*(provider.login() for provider in providers))
            stats = await harness.stats()
            assert stats["logins"] == 6
            assert stats["login_pages_max_in_flight"] == 2  # the back office saw two logins at a time, no more
            assert agent.logins.peak == 2 and agent.logins.running == 0
            assert agent.live_contexts == 0
