"""``mapay record`` with no display: the recorder's headless page is shown in a live view on a loopback URL and a
person records a platform through the streamed picture alone; the draft then passes the profile check."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from agent.accounts import AccountBook
from agent.browser.runtime import BrowserRuntime
from agent.crypto import SecretBox
from agent.db import Database
from agent.platforms import known_platforms, sync_platforms
from agent.recorder import Recorder, unresolved
from agent.recorder.check import check_profile
from agent.recorder.live import record_in_live_view
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, runtime
from tests.liveview.stream import click_through, type_through, wait_for_frames
from tests.recorder.person import answer, fill_in

pytestmark = pytest.mark.browser

__all__ = ["runtime"]

USERNAME, PASSWORD = "13800000011", "Live-Rec0rd!"


async def test_a_profile_recorded_through_the_live_view_passes_the_check(
    tmp_path: Path, browser: Browser, runtime: BrowserRuntime, page: Page,
) -> None:
    drafts = tmp_path / "drafts"
    viewer = page  # the person's own browser, nowhere near the recording's Chromium
    await viewer.set_viewport_size({"width": 1280, "height": 800})
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        earlier = [await control.pay(1000 + i * 7, ("alipay", "wxpay", "bank")[i % 3], f"T{i % 4:03d}")
                   for i in range(12)]
        async with Recorder("hkrt", office.url + "/login", out=drafts / "hkrt.yaml", browser=browser) as rec:
            told: asyncio.Queue[str] = asyncio.Queue()
            watching = asyncio.create_task(record_in_live_view(rec, tell=told.put_nowait))
            await told.get()  # the help line
            url = await told.get()
            assert url.startswith("http://127.0.0.1:") and "token=" in url

            await viewer.goto(url)
            await wait_for_frames(viewer)
            real = rec.page
            await type_through(viewer, real, "#username", USERNAME)
            await type_through(viewer, real, "#password", PASSWORD)
            await click_through(viewer, real, "#login-btn")
            await real.wait_for_url("**/transactions*")
            await real.wait_for_function("document.querySelectorAll('#tx-body tr').length > 0")
            async with real.expect_response(lambda r: r.request.resource_type in ("xhr", "fetch")):
                await click_through(viewer, real, "#next")
            await viewer.click("#command-finish")
            await asyncio.wait_for(watching, timeout=10)
            draft = await rec.finish()

    assert [next(iter(step)) for step in draft.data["login"]["steps"]] == ["goto", "fill", "fill", "click"]
    fill_in(drafts / "hkrt.yaml", answer(draft, earlier))
    assert unresolved((drafts / "hkrt.yaml").read_text(encoding="utf-8")) == []
    settings = agent_settings(tmp_path / "data", profiles_dir=drafts)
    box = SecretBox(settings.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http, \
            Database(settings.database_path) as db:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        paid = await control.pay(1234, "wxpay", "T007")
        await sync_platforms(db, known_platforms(settings))
        account = await AccountBook(db, box).add_account("hkrt", "直播录制", USERNAME, PASSWORD, office.url)
        report = await check_profile(settings, db, box, str(drafts / "hkrt.yaml"), account.id, runtime=runtime)
    assert report.ok, (report.failed_step, report.error)
    assert [tx.trade_no for tx in report.transactions] == [paid["trade_no"]]
    assert PASSWORD not in (drafts / "hkrt.yaml").read_text(encoding="utf-8")


async def test_without_a_display_the_command_prints_a_one_time_loopback_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {"MAPAY_DATA_DIR": str(tmp_path / "data")}
    async with serve_fixture("hkrt") as office, aiohttp.ClientSession() as http:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "record", "hkrt", "--url", office.url + "/login",
            "--out", str(tmp_path / "hkrt.yaml"), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert process.stderr is not None
        try:
            url = ""
            while not url.startswith("http://127.0.0.1:"):
                url = (await asyncio.wait_for(process.stderr.readline(), timeout=60)).decode().strip()
                assert url or process.returncode is None, "the command ended without printing a URL"
            base = url.split("?")[0]
            async with http.get(url, allow_redirects=False) as first:
                assert first.status == 303
                cookie = first.cookies["mapay_liveview"].value
            async with http.get(url, allow_redirects=False, cookies={}) as again:
                assert again.status == 403  # the token was good once
            async with aiohttp.ClientSession() as stranger, stranger.get(base) as other:
                assert other.status == 403
            async with aiohttp.ClientSession(cookies={"mapay_liveview": cookie}) as owner:
                async with owner.get(base) as page:
                    assert page.status == 200 and "data-liveview" in await page.text()
                origin = {"Origin": base.rstrip("/")}
                async with owner.ws_connect(base + "socket", headers=origin) as ws:
                    first_message = await ws.receive_json(timeout=10)
                    assert first_message["type"] in ("frame", "status")
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await owner.ws_connect(base + "socket", headers={"Origin": "http://evil.example"})
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), timeout=20)
