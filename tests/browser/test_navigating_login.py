"""A login answer whose page navigates away at once still signals success and still gives its token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from agent.browser.runtime import BrowserRuntime
from agent.profiles.page_answers import PageAnswers
from agent.providers.base import LayoutChanged
from tests.browser.conftest import harness_for, quick_profiles

pytestmark = pytest.mark.browser

LOGIN_ANSWER = "**/ucUser/login*"


def answer_driven_profiles(folder: Path) -> Path:
    """收钱吧 with success and the token taken from the login answer, not from the page it leads to."""
    quick_profiles(folder)
    path = folder / "shouqianba.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["login"]["success"] = {"response": LOGIN_ANSWER, "ok": {"path": "data.code", "equals": 50000},
                                "timeout_seconds": 4}
    data["session"]["captures"] = {
        "token": {"response": LOGIN_ANSWER, "path": "data.mchUserTokenInfo.token"},
        "token_expires": {"response": LOGIN_ANSWER, "path": "data.mchUserTokenInfo.expire_time"},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


async def test_a_login_answer_outlives_the_page_that_navigates_away(tmp_path: Path, runtime: BrowserRuntime) -> None:
    profiles = answer_driven_profiles(tmp_path / "profiles")
    async with harness_for("shouqianba", tmp_path, runtime, profiles_dir=profiles) as harness:
        await harness.control.fault("navigate_after_login")
        payment = await harness.control.pay(1234, "wxpay", "T1")
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            await provider.login()
            now = datetime.now(UTC)
            found = await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))
    assert [tx.trade_no for tx in found] == [payment["trade_no"]]


async def test_a_lost_login_answer_is_named_with_the_fix(
    tmp_path: Path, runtime: BrowserRuntime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def watch_only(self: object) -> None:  # the engine as it was: read bodies as the page receives them
        return None

    monkeypatch.setattr(PageAnswers, "route", watch_only)
    profiles = answer_driven_profiles(tmp_path / "profiles")
    async with harness_for("shouqianba", tmp_path, runtime, profiles_dir=profiles) as harness:
        await harness.control.fault("navigate_after_login")
        async with harness.agent() as agent:
            provider = await harness.provider(agent)
            with pytest.raises(LayoutChanged) as raised:
                await provider.login()
    assert raised.value.step == "login.success"
    assert "body was lost" in raised.value.detail and "success.url or success.element" in raised.value.detail
