"""``/healthz`` with remote browsers: every endpoint in ``browser_endpoints`` must answer, none is launched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from agent.browser.launch import LAUNCH_ARGS, find_chromium
from agent.settings import Settings
from tests.ops.healthz import settled_healthz
from tests.ops.served import free_port
from tests.support.gateway import running_gateway


@contextlib.asynccontextmanager
async def remote_chromium(profile_dir: Path) -> AsyncIterator[str]:
    """A Chromium serving CDP on a loopback port, as browserless or a grid node does; yields its endpoint."""
    executable = find_chromium(headless=False)  # the full browser, as browserless or a grid runs it
    assert executable is not None, "Debian's chromium is required"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(executable), "--headless=new", *LAUNCH_ARGS, f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile_dir}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(endpoint + "/json/version") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield endpoint
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_every_remote_endpoint_is_checked_instead_of_a_local_launch(settings: Settings, tmp_path: Path) -> None:
    async with remote_chromium(tmp_path / "one") as one:
        async with remote_chromium(tmp_path / "two") as two:
            # No local Chromium at that path: only the endpoints can make the check pass.
            remote = settings.model_copy(
                update={"browser_endpoints": [one, two], "chromium_path": tmp_path / "no-chromium"}
            )
            async with running_gateway(remote) as gateway:
                status, body = await settled_healthz(gateway.url)
            assert status == 200, body
            assert body["browser"]["status"] == "ok"
            assert body["browser"]["detail"] == "2 remote endpoint(s) reachable"

        async with running_gateway(remote) as gateway:  # one endpoint of two is lost
            status, body = await settled_healthz(gateway.url)
        assert status == 503 and body["browser"]["status"] == "failed", body
