"""The browser runtime: crashes and lost endpoints are survived, contexts are recycled and closed when idle,
and a remote Chromium (CDP) can stand in for the local launch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from agent.browser.launch import LAUNCH_ARGS, find_chromium
from agent.browser.runtime import BrowserRuntime
from agent.providers.base import ProviderTransaction
from agent.providers.browser import BrowserProvider
from tests.browser.conftest import Harness, harness_for, quick_profiles
from tests.support.net import free_port

pytestmark = pytest.mark.browser


async def read(provider: BrowserProvider) -> list[ProviderTransaction]:
    now = datetime.now(UTC)
    return await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))


@asynccontextmanager
async def shouqianba(tmp_path: Path, runtime: BrowserRuntime | None, **settings: object) -> AsyncIterator[Harness]:
    """收钱吧 read through the browser (``transport: browser``): what these tests watch is the reading context."""
    profiles = quick_profiles(tmp_path / "profiles", transport="browser")
    async with harness_for("shouqianba", tmp_path, runtime, profiles_dir=profiles, **settings) as harness:
        yield harness


async def test_a_crashed_browser_is_relaunched_and_the_job_retried(tmp_path: Path, runtime: BrowserRuntime) -> None:
    async with shouqianba(tmp_path, runtime) as harness, harness.agent() as agent:
        provider = await harness.provider(agent)
        await provider.login()
        payment = await harness.control.pay(777, "alipay", "T1")
        launches = runtime.launches
        await runtime.kill(harness.account_id)
        assert isinstance(provider, BrowserProvider)
        found = await read(provider)
        assert [tx.trade_no for tx in found] == [payment["trade_no"]]
        assert runtime.launches == launches + 1
        assert (await harness.stats())["logins"] == 1  # the saved session came back with the new browser


async def test_contexts_are_recycled_after_n_jobs_without_a_new_login(tmp_path: Path, runtime: BrowserRuntime) -> None:
    async with shouqianba(tmp_path, runtime, browser_recycle_jobs=2) as harness, harness.agent() as agent:
        provider = await harness.provider(agent)
        assert isinstance(provider, BrowserProvider)
        await provider.login()
        await read(provider)
        assert not provider.has_context  # second job done: recycled
        await read(provider)
        assert provider.has_context
        assert (await harness.stats())["logins"] == 1


async def test_idle_accounts_hold_no_browser_context(tmp_path: Path, runtime: BrowserRuntime) -> None:
    async with shouqianba(tmp_path, runtime, browser_idle_seconds=0.4) as harness, harness.agent() as agent:
        provider = await harness.provider(agent)
        assert isinstance(provider, BrowserProvider)
        await provider.login()
        for _ in range(40):
            if agent.live_contexts == 0:
                break
            await asyncio.sleep(0.1)
        assert agent.live_contexts == 0
        await read(provider)  # reopened from the saved session
        assert (await harness.stats())["logins"] == 1


async def start_remote_chromium(port: int, profile_dir: Path) -> asyncio.subprocess.Process:
    """A Chromium with a remote debugging port on loopback, as browserless / a grid would expose."""
    executable = find_chromium(headless=False)  # the full browser, as browserless or a grid runs it
    assert executable is not None, "Debian's chromium is required"
    process = await asyncio.create_subprocess_exec(
        str(executable), "--headless=new", *LAUNCH_ARGS, f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile_dir}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{port}/json/version") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    await stop(process)
    raise AssertionError("remote Chromium did not open its debugging port")


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def test_a_remote_cdp_browser_is_used_and_a_lost_endpoint_reconnected(tmp_path: Path) -> None:
    port = free_port()
    remote = await start_remote_chromium(port, tmp_path / "remote1")
    try:
        async with shouqianba(tmp_path, None, browser_endpoints=[f"http://127.0.0.1:{port}"]) as harness, \
                harness.agent() as agent:  # owns its runtime: connects to the endpoint, launches nothing
            provider = await harness.provider(agent)
            assert isinstance(provider, BrowserProvider)
            await provider.login()
            await stop(remote)  # the endpoint goes away under a logged-in account
            remote = await start_remote_chromium(port, tmp_path / "remote2")
            payment = await harness.control.pay(555, "wxpay", "T1")
            assert [tx.trade_no for tx in await read(provider)] == [payment["trade_no"]]
            assert agent.runtime.launches == 2  # connected twice
            assert (await harness.stats())["logins"] == 1
    finally:
        await stop(remote)
