"""Every platform, end to end in real Chromium: login, paging and normalizing, reuse after restart, expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import BrowserContext, Page

from agent.browser.runtime import BrowserRuntime
from agent.providers.base import Channel, SessionExpired
from tests.browser.conftest import Harness, harness_for, quick_profiles

pytestmark = pytest.mark.browser

CHANNELS = ("alipay", "wxpay", "bank")


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(seconds=5)


async def test_reads_every_page_normalized_and_reuses_the_session_after_restart(harness: Harness) -> None:
    paid = [await harness.control.pay(1000 + i * 7, CHANNELS[i % 3], f"T{i % 4:03d}") for i in range(23)]
    await harness.control.pay(999, "alipay", "T000", paid_at=(datetime.now(UTC) - timedelta(hours=3)).isoformat())
    async with harness.agent() as agent:
        provider = await harness.provider(agent)
        await harness.login(provider)
        found = await provider.fetch_transactions(*window())
    assert {tx.trade_no for tx in found} == {p["trade_no"] for p in paid}
    by_no = {tx.trade_no: tx for tx in found}
    for payment in paid:
        tx = by_no[payment["trade_no"]]
        assert tx.amount_fen == payment["amount_fen"]
        assert tx.channel == Channel(payment["channel"])
        assert tx.terminal_id == payment["terminal_id"]
        assert abs(tx.paid_at - datetime.fromisoformat(payment["paid_at"])) < timedelta(seconds=1)
    sealed = await harness.db.fetchval("SELECT session_enc FROM accounts WHERE id = ?", (harness.account_id,))
    assert sealed and "cookies" not in sealed  # stored, encrypted

    late = await harness.control.pay(4321, "wxpay", "T009")
    async with harness.agent() as agent:  # a new process: new contexts, same data folder
        provider = await harness.provider(agent)
        await provider.login()
        again = await provider.fetch_transactions(*window())
    assert {tx.trade_no for tx in again} == {p["trade_no"] for p in [*paid, late]}
    assert (await harness.stats())["logins"] == 1


async def test_expired_session_is_reported_then_a_new_login_reads_again(harness: Harness) -> None:
    await harness.control.settings(session_ttl_seconds=1.5)
    async with harness.agent() as agent:
        provider = await harness.provider(agent)
        await harness.login(provider)
        await asyncio.sleep(2.0)
        with pytest.raises(SessionExpired):
            await provider.fetch_transactions(*window())
        await harness.control.settings(session_ttl_seconds=600)
        payment = await harness.control.pay(1200, "alipay", "T001")
        await harness.login(provider)
        found = await provider.fetch_transactions(*window())
    assert [tx.trade_no for tx in found] == [payment["trade_no"]]
    assert (await harness.stats())["logins"] == 2


async def test_a_server_rendered_table_is_read_page_by_page_without_opening_a_page(
    tmp_path: Path, runtime: BrowserRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = quick_profiles(tmp_path / "profiles")
    zhihui = yaml.safe_load((profiles / "zhihui.yaml").read_text(encoding="utf-8"))
    zhihui["transactions"]["table"]["page_size"] = 10
    (profiles / "zhihui.yaml").write_text(yaml.safe_dump(zhihui, allow_unicode=True), encoding="utf-8")
    opened: list[Page] = []
    new_context = runtime.new_context

    async def watched(account_id: int, storage_state: dict[str, Any] | None = None) -> BrowserContext:
        context = await new_context(account_id, storage_state)
        context.on("page", lambda page: opened.append(page))
        return context

    monkeypatch.setattr(runtime, "new_context", watched)
    async with harness_for("zhihui", tmp_path, runtime, profiles_dir=profiles) as harness:
        paid = [await harness.control.pay(500 + i, CHANNELS[i % 3], "T001") for i in range(23)]
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            await harness.login(provider)
            pages_of_the_login = len(opened)
            calls_before = (await harness.stats())["transaction_calls"]
            found = await provider.fetch_transactions(*window())
            assert (await harness.stats())["transaction_calls"] - calls_before == 3  # 10 + 10 + 3 rows
        assert sorted(tx.amount_fen for tx in found) == sorted(p["amount_fen"] for p in paid)
        assert len(opened) == pages_of_the_login  # the reads opened no page (no renderer per read)
