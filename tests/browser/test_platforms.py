"""Every platform, end to end in real Chromium: login, session reuse, expiry, paging and normalizing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from agent.providers.base import Channel, SessionExpired
from tests.browser.conftest import Harness

pytestmark = pytest.mark.browser

CHANNELS = ("alipay", "wxpay", "bank")


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(seconds=5)


async def test_logs_in_and_reads_every_page_normalized(harness: Harness) -> None:
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
        expected = datetime.fromisoformat(payment["paid_at"])
        assert abs(tx.paid_at - expected) < timedelta(seconds=1)
    assert (await harness.stats())["logins"] == 1


async def test_restart_reuses_the_saved_session_without_logging_in(harness: Harness) -> None:
    async with harness.agent() as agent:
        await harness.login(await harness.provider(agent))
    assert (await harness.stats())["logins"] == 1
    payment = await harness.control.pay(4321, "wxpay", "T009")
    async with harness.agent() as agent:  # a new process: new contexts, same data folder
        provider = await harness.provider(agent)
        await provider.login()
        found = await provider.fetch_transactions(*window())
    assert [tx.trade_no for tx in found] == [payment["trade_no"]]
    assert (await harness.stats())["logins"] == 1
    sealed = await harness.db.fetchval("SELECT session_enc FROM accounts WHERE id = ?", (harness.account_id,))
    assert sealed and "cookies" not in sealed  # stored encrypted


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
