"""Injected back-office faults end in the classified error, leave a redacted snapshot, and lose nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.accounts import AccountBook
from agent.browser.runtime import BrowserRuntime
from agent.providers.base import (
    AuthFailed,
    HealthState,
    LayoutChanged,
    NeedsHuman,
    SessionExpired,
    TransientError,
)
from tests.browser.conftest import PASSWORD, USERNAME, Harness, harness_for, quick_profiles

pytestmark = pytest.mark.browser

CAPTCHA_PLATFORMS = ("ysepay", "zhihui", "lakala")
ATTEMPTS = 4
FETCH_LAYOUT_STEP = {"zhihui": "transactions.table.header"}


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(seconds=5)


def snapshot_files(harness: Harness) -> list[Path]:
    return sorted((harness.settings.data_dir / "snapshots" / str(harness.account_id)).rglob("*"))


def assert_no_secret_written(harness: Harness) -> None:
    for path in snapshot_files(harness):
        if path.suffix in (".json", ".html"):
            assert PASSWORD not in path.read_text(encoding="utf-8"), path


async def test_faults_are_classified_and_no_payment_is_lost(harness: Harness) -> None:
    async with harness.agent() as agent:
        provider = await harness.provider(agent)
        await harness.login(provider)
        paid = [await harness.control.pay(2000 + i, "alipay", "T001") for i in range(3)]

        for kind, extra in (("http_500", {"count": 1}), ("rate_limit", {"count": 1}),
                            ("slow", {"count": 1, "seconds": 6.0})):
            await harness.control.fault(kind, **extra)
            with pytest.raises(TransientError):
                await provider.fetch_transactions(*window())
            assert provider.health().state == HealthState.DEGRADED

        await harness.control.fault("layout_changed")
        with pytest.raises(LayoutChanged) as changed:
            await provider.fetch_transactions(*window())
        assert changed.value.step == FETCH_LAYOUT_STEP.get(harness.platform, "transactions.fields.trade_no")
        await harness.control.clear_faults()

        await harness.control.fault("revoke_sessions")
        with pytest.raises(SessionExpired):
            await provider.fetch_transactions(*window())
        paid.append(await harness.control.pay(2100, "wxpay", "T002"))
        await harness.login(provider)
        found = await provider.fetch_transactions(*window())
        assert provider.health().state == HealthState.OK
    assert {tx.trade_no for tx in found} == {p["trade_no"] for p in paid}
    assert (await harness.stats())["logins"] == 2
    errors = [p for p in snapshot_files(harness) if p.name == "error.json"]
    assert errors, "a failure leaves a snapshot"
    assert_no_secret_written(harness)


async def test_wrong_password_fails_once_without_a_retry_storm(harness: Harness) -> None:
    await harness.control.merchant("13900000002", "the-real-one")
    account = await AccountBook(harness.db, harness.box).add_account(
        harness.platform, "wrong", "13900000002", PASSWORD, harness.office.url)
    async with harness.agent() as agent:
        provider = agent(await AccountBook(harness.db, harness.box).credentials(account.id))
        for _ in range(3):
            with pytest.raises(AuthFailed):
                await provider.login()
        assert provider.health().state == HealthState.LOGIN_FAILED
    assert (await harness.stats())["login_failures"] == 1


@pytest.mark.parametrize("platform", ("shouqianba", "hkrt", "ysepay", "zhihui", "lakala", "shengpay"))
async def test_changed_login_page_is_a_layout_change_naming_the_step(
    platform: str, tmp_path: Path, runtime: BrowserRuntime
) -> None:
    async with harness_for(platform, tmp_path, runtime, profiles_dir=quick_profiles(tmp_path / "profiles", 1.5)) as harness:
        await harness.control.fault("layout_changed")
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            with pytest.raises(LayoutChanged) as changed:
                await provider.login()
        assert changed.value.step == "login[1].fill(#username)"
        step_files = [p for p in snapshot_files(harness) if p.name in ("error.json", "page.html", "screenshot.png")]
        assert {p.name for p in step_files} == {"error.json", "page.html", "screenshot.png"}
        assert "login[1].fill(#username)" in next(p for p in step_files if p.name == "error.json").read_text()
        assert_no_secret_written(harness)


@pytest.mark.parametrize("platform", CAPTCHA_PLATFORMS)
async def test_always_refused_captcha_gives_up_after_bounded_tries(
    platform: str, tmp_path: Path, runtime: BrowserRuntime
) -> None:
    profiles = quick_profiles(tmp_path / "profiles", captcha_attempts=ATTEMPTS)
    async with harness_for(platform, tmp_path, runtime, profiles_dir=profiles) as harness:
        await harness.control.fault("captcha_reject")
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            with pytest.raises(TransientError, match="captcha refused or unreadable"):
                await provider.login()
            refused = agent.solver.stats.refused[harness.account_id]
        stats = await harness.stats()
        assert 1 <= refused <= ATTEMPTS
        # Each picture may be followed by the page's own reload and our fresh page.
        assert stats["captchas_issued"] <= 3 * ATTEMPTS
        assert stats["login_failures"] == 0 and stats["logins"] == 0


async def test_refused_one_time_code_waits_for_a_new_one(tmp_path: Path, runtime: BrowserRuntime) -> None:
    from agent.accounts.otp import deliver_otp

    async with harness_for("shengpay", tmp_path, runtime) as harness, harness.agent() as agent:
        provider = await harness.provider(agent)
        with pytest.raises(NeedsHuman, match="waiting for the one-time code"):
            await provider.login()
        assert provider.health().state == HealthState.NEEDS_HUMAN
        with pytest.raises(NeedsHuman):  # nothing typed yet: no new SMS, no new attempt
            await provider.login()
        await deliver_otp(harness.db, harness.box, harness.account_id, "000000")
        with pytest.raises(NeedsHuman, match="refused"):
            await provider.login()
        await deliver_otp(harness.db, harness.box, harness.account_id, await harness.control.otp(USERNAME))
        await provider.login()
        assert provider.health().state == HealthState.OK
        stats = await harness.stats()
    assert stats["otp_sent"] == 1 and stats["logins"] == 1


async def test_a_login_parked_past_the_code_wait_closes_its_page_and_the_next_login_asks_for_a_new_code(
        tmp_path: Path, runtime: BrowserRuntime) -> None:
    from agent.accounts.otp import deliver_otp

    async with harness_for("shengpay", tmp_path, runtime, login_code_wait_seconds=0.5,
                           browser_idle_seconds=1) as harness, harness.agent() as agent:
        provider = await harness.provider(agent)
        with pytest.raises(NeedsHuman, match="waiting for the one-time code"):
            await provider.login()
        first_code = await harness.control.otp(USERNAME)
        assert agent.live_contexts == 1  # the parked login's page
        for _ in range(100):  # the reaper runs every idle/4 s
            if agent.live_contexts == 0:
                break
            await asyncio.sleep(0.1)
        assert agent.live_contexts == 0
        await deliver_otp(harness.db, harness.box, harness.account_id, first_code)  # typed too late
        with pytest.raises(NeedsHuman, match="waiting for the one-time code"):
            await provider.login()  # a fresh login: a new SMS, the stale code dropped
        second_code = await harness.control.otp(USERNAME)
        await deliver_otp(harness.db, harness.box, harness.account_id, second_code)
        await provider.login()
        assert provider.health().state == HealthState.OK
        stats = await harness.stats()
    assert stats["otp_sent"] == 2 and stats["logins"] == 1
