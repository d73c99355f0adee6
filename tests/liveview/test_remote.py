"""The live view of a page in a remote browser: a Chromium behind an ``http://`` CDP endpoint (as browserless or a
grid exposes it) or a ``ws://`` Playwright run-server (the compose file's browser containers) streams and takes
input through the same CDP session as a local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.browser.runtime import BrowserRuntime
from agent.liveview import LiveView
from agent.liveview.stream import Frame
from tests.browser.conftest import agent_settings
from tests.browser.test_remote_ws import run_server, ws_settings
from tests.browser.test_runtime import free_port, start_remote_chromium, stop

pytestmark = pytest.mark.browser

PAGE = ("<input id=name style='position:absolute;left:100px;top:100px;width:200px'>"
        "<button id=go style='position:absolute;left:400px;top:600px' onclick=\"this.textContent='pressed'\">go</button>")


async def _stream_and_drive(runtime: BrowserRuntime) -> None:
    context = await runtime.new_context(1)
    page = await context.new_page()
    await page.set_content(PAGE)
    async with LiveView(page) as view:
        async for update in view.updates():
            if isinstance(update, Frame):
                assert (update.width, update.height) == (1280, 800)
                break
        for action in ("down", "up"):
            await view.handle({"type": "mouse", "action": action, "x": 150 / 1280, "y": 110 / 800})
        await view.handle({"type": "text", "text": "收银员"})
        await view.handle({"type": "key", "key": "Backspace"})
        for action in ("down", "up"):
            await view.handle({"type": "mouse", "action": action, "x": 420 / 1280, "y": 610 / 800})
        assert await page.input_value("#name") == "收银"
        await page.wait_for_function("document.querySelector('#go').textContent === 'pressed'")
    await context.close()


async def test_a_remote_cdp_page_is_streamed_and_driven(tmp_path: Path) -> None:
    port = free_port()
    remote = await start_remote_chromium(port, tmp_path / "remote")
    try:
        settings = agent_settings(tmp_path / "data", browser_endpoints=[f"http://127.0.0.1:{port}"])
        async with BrowserRuntime(settings) as runtime:
            await _stream_and_drive(runtime)
    finally:
        await stop(remote)


async def test_a_page_of_a_ws_run_server_is_streamed_and_driven(tmp_path: Path) -> None:
    async with run_server() as server:
        settings = agent_settings(tmp_path / "data", **ws_settings([server.endpoint]))
        async with BrowserRuntime(settings) as runtime:
            await _stream_and_drive(runtime)
            assert runtime.launches == 1  # connected to the run-server, nothing launched here
