"""What the recorder proposes from one recording of 付呗, a back office unlike the six: row-offset paging, the
error element a refused attempt showed, a login that ends on the first logged-in page (the click to the list
is browsing), and the captcha's case and characters as the person typed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from agent.accounts import AccountBook
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.crypto import SecretBox
from agent.db import Database
from agent.platforms import known_platforms, sync_platforms
from agent.recorder import Recorder, unresolved
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, runtime
from tests.recorder.person import PICTURE_LOADED, answer, fill_in, readable_captcha

pytestmark = pytest.mark.browser

__all__ = ["runtime"]

USERNAME, PASSWORD = "13800000007", "Fubei-Rec0rd!"


async def test_a_fubei_recording_proposes_offset_paging_its_error_element_and_the_typed_captcha_case(
    tmp_path: Path, browser: Browser, runtime: BrowserRuntime,
) -> None:
    drafts = tmp_path / "drafts"
    async with serve_fixture("fubei") as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        earlier = [await control.pay(800 + i, ("wxpay", "alipay", "bank")[i % 3], "T001") for i in range(13)]
        async with Recorder("fubei", office.url + "/Index/Login/index", out=drafts / "fubei.yaml",
                            browser=browser) as rec:
            page = rec.page
            await page.locator("#username").press_sequentially(USERNAME)
            await page.locator("#password").press_sequentially(PASSWORD)
            await page.wait_for_function(PICTURE_LOADED, arg="#verify-img")
            await page.locator("#verifyCode").press_sequentially("zzzz")  # a wrong answer first
            await page.click("#login-submit")
            await page.wait_for_selector("#tip:visible")
            await page.wait_for_timeout(1600)  # the recorder looks for the refusal twice within 1.5 s
            await page.wait_for_function(PICTURE_LOADED, arg="#verify-img")
            await page.locator("#verifyCode").fill("")
            await page.locator("#verifyCode").press_sequentially(await readable_captcha(page, control, "#verify-img"))
            await page.click("#login-submit")
            await page.wait_for_url("**/User/Index/index*")
            await page.click("#nav-trade")  # browsing, not logging in
            await page.wait_for_function("document.querySelectorAll('#tx-body tr').length > 0")
            async with page.expect_response("**/tradestats"):
                await page.click("#next")
            draft = await rec.finish()

        login = draft.data["login"]
        assert [next(iter(step)) for step in login["steps"]] == ["goto", "fill", "fill", "captcha", "click"]
        assert login["success"] == {"url": "**/Index/index*"}
        assert login["error_selector"] == "#tip"
        captcha = login["steps"][3]["captcha"]
        assert (captcha["case"], captcha["charset"]) == ("lower", "0123456789abcdefghijklmnopqrstuvwxyz")
        assert captcha["image"] == {"response": "**/Login/verify*"}
        api = draft.data["transactions"]["api"]
        assert api["request"]["form"]["start"] == "{offset!s}"
        assert api["request"]["form"]["length"] == "{page_size!s}"
        assert (api["records"], api["total"], api["page_size"]) == ("data", "recordsTotal", 10)
        assert [d.path for d in draft.decisions] == ["transactions.fields.channel.map"]  # numeric codes only

        fill_in(drafts / "fubei.yaml", answer(draft, earlier))
        assert unresolved((drafts / "fubei.yaml").read_text(encoding="utf-8")) == []
        settings = agent_settings(tmp_path / "data", profiles_dir=drafts)
        box = SecretBox(settings.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
        async with Database(settings.database_path) as db:
            await sync_platforms(db, known_platforms(settings))  # the draft is a platform as soon as it is written
            account = await AccountBook(db, box).add_account("fubei", "录制", USERNAME, PASSWORD, office.url)
            async with BrowserAgent(settings, db, box, runtime=runtime) as agent:
                provider = agent(await AccountBook(db, box).credentials(account.id))
                await provider.login()
                now = datetime.now(UTC)
                found = await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))
    assert {tx.trade_no for tx in found} == {p["trade_no"] for p in earlier}  # two pages by row offset


def test_offsets_are_told_from_pages_by_their_step() -> None:
    from agent.recorder.source import offsets, page_and_noise
    from agent.recorder.values import Parameterizer

    calls = [{"draw": "1", "start": "0", "length": "10"}, {"draw": "2", "start": "10", "length": "10"}]
    pages, varying = page_and_noise(calls)
    assert pages == {"draw"} and offsets(calls, varying) == {"start"}
    guessed = Parameterizer({}, datetime.now(UTC))
    assert guessed.template({"offset": 0, "limit": 20}) == {"offset": "{offset}", "limit": "{page_size}"}
    assert guessed.guessed == {"offset"}  # by its name only: the draft asks the maintainer
