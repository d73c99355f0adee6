"""``/healthz`` over real HTTP: a real SQLite write, a real Chromium start, and the container's probe."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.appkeys import DB
from agent.ops import health
from agent.ops.drain import DRAIN
from agent.ops.health import BrowserProbe
from agent.settings import Settings
from tests.ops.healthz import healthz, settled_healthz
from tests.support.gateway import RunningGateway, running_gateway


async def test_healthy_gateway_answers_200_after_a_real_write_and_browser_start(gateway: RunningGateway) -> None:
    status, body = await settled_healthz(gateway.url)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "detail": "writable"}
    assert body["browser"]["status"] == "ok" and body["browser"]["detail"] == "chromium launches"
    first_beat = await gateway.app[DB].fetchval("SELECT beat_at FROM ops_heartbeat WHERE id = 1")
    await asyncio.sleep(0.01)
    await settled_healthz(gateway.url)
    assert await gateway.app[DB].fetchval("SELECT beat_at FROM ops_heartbeat WHERE id = 1") > first_beat


async def test_a_browser_that_cannot_start_makes_it_unhealthy(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    async with running_gateway(settings.model_copy(update={"chromium_path": broken})) as gateway:
        status, body = await settled_healthz(gateway.url)
    assert status == 503
    assert body["status"] == "unhealthy" and body["database"]["ok"] is True
    assert body["browser"]["status"] == "failed" and body["browser"]["detail"]


def _locking_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


async def test_a_database_that_refuses_writes_makes_it_unhealthy(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DATABASE_TIMEOUT", 0.5)
    # Another writer takes the database's write lock (in a thread: the gateway's own writers must be able
    # to finish what they are doing before it gets it).
    other = await asyncio.to_thread(_locking_writer, gateway.settings.database_path)
    try:
        status, body = await settled_healthz(gateway.url)
    finally:
        await asyncio.to_thread(other.execute, "ROLLBACK")
        other.close()
    assert status == 503 and body["status"] == "unhealthy"
    assert body["database"]["ok"] is False and "0.5s" in body["database"]["detail"]
    assert (await settled_healthz(gateway.url))[0] == 200  # and healthy again once the lock is gone


async def test_draining_gateway_reports_503(gateway: RunningGateway) -> None:
    gateway.app[DRAIN].begin()
    assert await healthz(gateway.url) == (503, {"status": "draining"})


async def test_browser_check_is_cached_until_it_gets_old(settings: Settings) -> None:
    starts: list[float] = []

    async def count_starts(_: Settings) -> str:
        starts.append(asyncio.get_running_loop().time())
        return "started"

    probe = BrowserProbe(settings.model_copy(update={"browser_check_seconds": 0.2}), count_starts)
    for _ in range(5):
        assert (await probe.result()).status == "ok"
    assert len(starts) == 1
    await asyncio.sleep(0.3)
    await probe.result()  # stale: answered from the cache while a new check runs in the background
    await asyncio.sleep(0.05)
    assert len(starts) == 2
    await probe.close()


def _container_probe(host: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {"MAPAY_HOST": host, "MAPAY_PORT": str(port), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "agent.ops.healthcheck"], env=env, capture_output=True, text=True, timeout=60
    )


async def test_container_healthcheck_command_follows_healthz(gateway: RunningGateway) -> None:
    port = int(gateway.url.rsplit(":", 1)[1])
    ok = await asyncio.to_thread(_container_probe, "0.0.0.0", port)  # the container's wildcard bind
    assert ok.returncode == 0 and '"status": "ok"' in ok.stdout
    gateway.app[DRAIN].begin()
    draining = await asyncio.to_thread(_container_probe, "127.0.0.1", port)
    assert draining.returncode == 1 and "503" in draining.stderr
