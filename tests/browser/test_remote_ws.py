"""Remote browsers behind ``ws://``: a real ``playwright run-server`` on loopback launches Debian's Chromium
with our offline flags (sent in the ``x-playwright-launch-options`` header), accounts are spread over
several endpoints, and a run-server killed under a job is survived like a crashed browser."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from agent.browser.launch import find_chromium
from agent.browser.runtime import BrowserRuntime
from agent.providers.browser import BrowserProvider
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, harness_for, quick_profiles
from tests.browser.test_runtime import free_port, read, start_remote_chromium, stop

pytestmark = pytest.mark.browser

# Not among Playwright's own default Chromium flags: seeing it proves our launch options reached the server.
OUR_FLAG = "--disable-gpu"


@dataclass
class RunServer:
    """A ``playwright run-server`` process group on a loopback port (Node and the browsers it launches)."""

    port: int
    temp_dir: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def endpoint(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        # --unsafe: without it the server drops executablePath and args and looks for its own download.
        # Its own session, so killing it takes Node too (``python -m playwright`` is only a wrapper);
        # TMPDIR collects the launched browsers' profiles, which a killed server leaves behind (it must be
        # short: Chromium puts a Unix socket under it).
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", str(self.port),
            "--unsafe", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "TMPDIR": str(self.temp_dir)},
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        assert line.decode().strip() == f"Listening on {self.endpoint}", line

    async def kill(self) -> None:
        """End the whole process group at once (Node ignores a plain SIGTERM while serving); the Chromium
        it launched exits with its pipe to Node."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


def used_by_a_process(folder: Path) -> bool:
    """Whether a running process names ``folder`` on its command line (a Chromium profile under it)."""
    marker = str(folder).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if marker in cmdline.read_bytes():
                return True
    return False


@asynccontextmanager
async def run_server() -> AsyncIterator[RunServer]:
    temp_dir = Path(tempfile.mkdtemp(prefix="mapay-pw-"))
    server = RunServer(free_port(), temp_dir)
    try:
        await server.start()
        yield server
    finally:
        await server.kill()
        for _ in range(100):  # its Chromium writes to its profile for a moment after losing Node
            if not used_by_a_process(temp_dir):
                break
            await asyncio.sleep(0.1)
        shutil.rmtree(temp_dir)


async def command_line(context: BrowserContext) -> str:
    """The command line of the browser behind ``context``, as that (remote) browser reports it."""
    page = await context.new_page()
    await page.goto("chrome://version")
    return await page.inner_text("#command_line")


def ws_settings(endpoints: list[str]) -> dict[str, object]:
    chromium = find_chromium(headless=False)  # the full browser: chrome://version tells its command line
    assert chromium is not None, "Debian's chromium is required"
    return {"browser_endpoints": endpoints, "browser_remote_executable_path": str(chromium)}


async def test_a_ws_endpoint_logs_into_a_back_office_with_debian_chromium(tmp_path: Path) -> None:
    # Playwright's own browser is not downloaded here: the connect only works if the server launched the
    # executable we named.
    async with run_server() as server, \
            harness_for("shouqianba", tmp_path, None, **ws_settings([server.endpoint])) as harness, \
            harness.agent() as agent:  # owns its runtime: connects to the endpoint, launches nothing
        provider = await harness.provider(agent)
        assert isinstance(provider, BrowserProvider)
        await provider.login()
        payment = await harness.control.pay(1234, "alipay", "T1")
        assert [tx.trade_no for tx in await read(provider)] == [payment["trade_no"]]
        assert agent.runtime.launches == 1
        assert (await harness.stats())["logins"] == 1


async def test_accounts_are_spread_over_a_ws_and_a_cdp_endpoint(tmp_path: Path) -> None:
    cdp_port = free_port()
    cdp = await start_remote_chromium(cdp_port, tmp_path / "cdp-profile")
    try:
        async with run_server() as server, serve_fixture("shouqianba") as office:
            endpoints = [server.endpoint, f"http://127.0.0.1:{cdp_port}"]
            settings = agent_settings(tmp_path / "data", **ws_settings(endpoints))
            async with BrowserRuntime(settings) as runtime:
                contexts = [await runtime.new_context(account_id) for account_id in range(4)]
                lines = [await command_line(context) for context in contexts]
                for account_id, line in enumerate(lines):
                    if account_id % 2 == 0:  # the run-server's Chromium: launched over a pipe, with our flags
                        assert "--remote-debugging-pipe" in line and OUR_FLAG in line, line
                    else:  # the Chromium we started with a debugging port
                        assert f"--remote-debugging-port={cdp_port}" in line, line
                for context in contexts:  # each renders a loopback page through its own endpoint
                    page = await context.new_page()
                    await page.goto(office.url + "/")
                    assert "收钱吧" in await page.title()
                assert runtime.launches == 2  # one connect per endpoint, shared by its accounts
    finally:
        await stop(cdp)


async def test_a_run_server_killed_under_a_job_is_reconnected_and_the_job_retried(tmp_path: Path) -> None:
    profiles = quick_profiles(tmp_path / "profiles", transport="browser")  # the read runs in the remote browser
    async with run_server() as server, \
            harness_for("shouqianba", tmp_path, None, browser_timeout_seconds=10, profiles_dir=profiles,
                        **ws_settings([server.endpoint])) as harness, \
            harness.agent() as agent:
        provider = await harness.provider(agent)
        assert isinstance(provider, BrowserProvider)
        await provider.login()
        payment = await harness.control.pay(4321, "wxpay", "T1")
        await harness.control.fault("slow", count=1, seconds=3)
        job = asyncio.create_task(read(provider))
        for _ in range(500):
            if harness.office.state.faults.slow_count == 0:  # the read is now waiting on the back office
                break
            await asyncio.sleep(0.02)
        await server.kill()
        assert not job.done()
        await server.start()  # the same endpoint comes back while the job waits to reconnect
        assert [tx.trade_no for tx in await job] == [payment["trade_no"]]
        assert agent.runtime.launches == 2
        assert (await harness.stats())["logins"] == 1  # the saved session came back with the new browser
