"""A full data disk, for real: a tmpfs filled to the last byte by a filler file, then emptied again.

The gateway must start on it and serve everything that needs no write, refuse orders in each protocol's
shape with 503 + Retry-After, log the failure once instead of a traceback per second, lose nothing, and
come back by itself when the filler is removed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from agent import epay
from agent.appkeys import DB, MERCHANTS, STORAGE
from agent.db import Database
from agent.db import storage as storage_module
from agent.db.storage import MESSAGES, StorageHealth, StorageStatus, StorageUnavailable
from agent.matching.confirm import mark_paid
from agent.ops.storage import StorageProbe
from agent.orders import OrderStatus, get_order
from agent.platforms import sync_platforms
from agent.settings import Settings
from tests.ops.served import Served, add_code, server_env, serving, signed_order
from tests.ops.small_disk import SmallDisk, mounted_small_disk, truncate_wal
from tests.support import factories
from tests.support.alert_receiver import AlertReceiver, serve_alert_receiver
from tests.support.eventually import eventually
from tests.support.gateway import running_gateway

DISK_FULL = MESSAGES["disk_full"]  # 磁盘已满，无法写入数据库
RECOVERY_SECONDS = 60.0  # free space noticed within a second; /healthz also waits for its Chromium check


async def _healthz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url + "/healthz") as response:
        return response.status, await response.json()


async def _mapi(http: aiohttp.ClientSession, url: str, fields: dict[str, str]) -> tuple[int, Any, str | None]:
    async with http.post(url + "/mapi.php", data=fields) as response:
        return response.status, await response.json(content_type=None), response.headers.get("Retry-After")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with mounted_small_disk(tmp_path / "disk") as disk:
        yield disk


def _recording(storage: StorageHealth) -> list[StorageStatus]:
    seen: list[StorageStatus] = []
    storage.on_change(seen.append)
    return seen


# -- the storage state itself ------------------------------------------------------------------------------


async def test_a_write_refused_by_the_full_disk_marks_the_storage_failing_and_listeners_hear_both_ways(
    small_disk: SmallDisk,
) -> None:
    storage = StorageHealth(small_disk.path)
    seen = _recording(storage)
    heard_async: list[bool] = []

    async def async_listener(status: StorageStatus) -> None:
        heard_async.append(status.failing)

    storage.on_change(async_listener)
    async with Database(small_disk.path / "mapay.sqlite3", storage) as db:
        await sync_platforms(db)
        await asyncio.to_thread(truncate_wal, db.path)
        small_disk.fill()

        with pytest.raises(sqlite3.OperationalError) as refused:
            async with db.transaction() as conn:  # no probe runs here: only the failed write can tell
                await conn.execute("UPDATE platforms SET name = name || '!'")
        assert storage.kind_of(refused.value) == "disk_full"
        assert storage.failing and storage.reason == "disk_full" and storage.message == DISK_FULL
        assert storage.failing_since is not None
        assert [(s.failing, s.reason) for s in seen] == [(True, "disk_full")]

        probe = StorageProbe(db, storage)
        await probe.check()  # still full: no recovery
        assert storage.failing

        small_disk.empty()
        await probe.check()
        assert not storage.failing
        assert [(s.failing, s.reason) for s in seen] == [(True, "disk_full"), (False, None)]
        await eventually(lambda: heard_async == [True, False], within=2)
        async with db.transaction() as conn:  # the writer connection was left usable (no open transaction)
            await conn.execute("UPDATE platforms SET name = name")


async def test_a_database_closed_cleanly_opens_read_only_on_a_full_disk_and_writable_once_space_is_back(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "mapay.sqlite3"
    async with Database(path) as db:
        assert await sync_platforms(db) == 6
    async with Database(path) as db:
        assert await sync_platforms(db) == 0  # an ordinary start writes nothing
    assert not path.with_name("mapay.sqlite3-shm").exists()  # what makes the next open need space
    small_disk.fill()

    storage = StorageHealth(small_disk.path)
    async with Database(path, storage) as db:
        assert not db.writable and storage.failing and storage.reason == "disk_full"
        assert await db.fetchval("SELECT count(*) FROM platforms") == 6
        with pytest.raises(StorageUnavailable):
            async with db.transaction():
                pass

        small_disk.empty()
        await StorageProbe(db, storage).check()
        assert db.writable and not storage.failing
        async with db.transaction() as conn:
            await conn.execute("UPDATE platforms SET name = '收钱吧!' WHERE slug = 'shouqianba'")
        assert await db.fetchval("SELECT name FROM platforms WHERE slug = 'shouqianba'") == "收钱吧!"


async def test_a_storm_of_failing_writes_is_logged_once_a_minute_per_kind(
    small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = StorageHealth(small_disk.path)
    async with Database(small_disk.path / "mapay.sqlite3", storage) as db:
        await sync_platforms(db)
        await asyncio.to_thread(truncate_wal, db.path)
        small_disk.fill()
        with capture_logs() as logged:
            for _ in range(20):  # a loop retrying every second, for twenty seconds
                with pytest.raises(sqlite3.OperationalError):
                    async with db.transaction() as conn:
                        await conn.execute("UPDATE platforms SET name = name || '!'")
        assert [e["event"] for e in logged if e["event"].startswith("storage")] == ["storage_failing"]

        monkeypatch.setattr(storage_module, "LOG_EVERY_SECONDS", 0.05)  # a minute later
        await asyncio.sleep(0.1)
        with capture_logs() as logged:
            for _ in range(5):
                with pytest.raises(sqlite3.OperationalError):
                    async with db.transaction() as conn:
                        await conn.execute("UPDATE platforms SET name = name || '!'")
        summaries = [e for e in logged if e["event"].startswith("storage")]
        assert [(e["event"], e["reason"], e["failures"]) for e in summaries] == [
            ("storage_still_failing", "disk_full", 20)  # the nineteen unlogged, and this one
        ]
        small_disk.empty()


# -- the disk filling while the gateway runs ---------------------------------------------------------------


async def test_the_disk_filling_while_running_refuses_writes_loses_nothing_and_recovers(
    small_disk: SmallDisk, settings: Settings
) -> None:
    async with serve_alert_receiver() as receiver:
        settings = settings.model_copy(update={"data_dir": small_disk.path / "data", "alert_urls": [receiver.url]})
        await _fill_refuse_recover(small_disk, settings, receiver)


async def _fill_refuse_recover(small_disk: SmallDisk, settings: Settings, receiver: AlertReceiver) -> None:
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        app, url = gateway.app, gateway.url
        merchant = await app[MERCHANTS].create("小店")
        await factories.add_code(app)
        seen = _recording(app[STORAGE])
        site = {"pid": merchant.pid, "key": merchant.key}
        status, first, _ = await _mapi(http, url, signed_order(site, "BEFORE"))
        assert status == 200 and first["code"] == 1, first

        await asyncio.to_thread(truncate_wal, settings.database_path)
        small_disk.fill()

        # An order that cannot be written is answered as failed: no trade_no, 503, Retry-After.
        status, refused, retry_after = await _mapi(http, url, signed_order(site, "DURING"))
        assert (status, refused["code"], retry_after) == (503, -1, "30"), refused
        assert DISK_FULL in refused["msg"] and "trade_no" not in refused
        health_status, health = await _healthz(http, url)
        assert health_status == 503
        assert health["reason"] == "disk_full" and health["message"] == DISK_FULL
        assert health["database"]["ok"] is False and health["database"]["reason"] == "disk_full"

        native = epay.signed({"pid": str(merchant.pid), "out_trade_no": "NATIVE", "name": "商品", "money": "3.00",
                              "notify_url": "http://127.0.0.1:9/n"}, merchant.key)
        async with http.post(url + "/api/v1/orders", json=native) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "30"
            body = await response.json()
            assert body["error"] == "unavailable" and DISK_FULL in body["message"]
        async with http.post(url + "/submit.php", data=signed_order(site, "FORM")) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "30"
            assert response.content_type == "text/html" and DISK_FULL in await response.text()

        # The owner is told, once, in Chinese, what to check.
        alert = await eventually(lambda: [text for text in receiver.texts() if "数据库写入失败" in text])
        assert DISK_FULL in alert[0] and "df -h" in alert[0]

        # A confirmation that cannot be written whole is not written at all: still pending, no notify job.
        with pytest.raises(sqlite3.OperationalError):
            await mark_paid(app[DB], first["trade_no"], actor="test", reason="x" * 3_000_000)
        order = await get_order(app[DB], first["trade_no"])
        assert order is not None and order.status is OrderStatus.PENDING
        assert await app[DB].fetchval("SELECT count(*) FROM notify_jobs") == 0

        # What needs no write is served.
        async with http.get(url + f"/pay/{first['trade_no']}") as response:
            assert response.status == 200
        query = {"act": "order", "pid": str(merchant.pid), "key": merchant.key, "trade_no": first["trade_no"]}
        async with http.get(url + "/api.php", params=query) as response:
            assert (await response.json(content_type=None))["code"] == 1

        small_disk.empty()

        async def healthy() -> bool:
            return (await _healthz(http, url))[0] == 200

        await eventually(healthy, within=RECOVERY_SECONDS, interval=0.5)
        status, after, _ = await _mapi(http, url, signed_order(site, "AFTER"))
        assert status == 200 and after["code"] == 1, after
        assert await app[DB].fetchval(
            "SELECT count(*) FROM orders WHERE out_trade_no IN ('DURING', 'NATIVE', 'FORM')"
        ) == 0
        await mark_paid(app[DB], first["trade_no"], actor="test", reason="补单")
        assert await app[DB].fetchval("SELECT count(*) FROM notify_jobs WHERE trade_no = ?", (first["trade_no"],)) == 1
        assert [(s.failing, s.reason) for s in seen] == [(True, "disk_full"), (False, None)]


# -- mapay serve started on a full disk --------------------------------------------------------------------


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def _prepare(served: Served, http: aiohttp.ClientSession) -> tuple[dict[str, Any], dict[str, str]]:
    """A merchant, a code and three orders: one pending, one paid (its notify due), one overdue."""
    merchant = served.cli_json("merchant", "add", "小店")
    add_code(served)
    trade_nos = {}
    for out_trade_no, money in (("PENDING", "10.00"), ("PAID", "11.00"), ("OVERDUE", "12.00")):
        async with http.post(served.url + "/mapi.php", data=signed_order(merchant, out_trade_no, money=money)) as r:
            answer = await r.json(content_type=None)
        assert answer["code"] == 1, answer
        trade_nos[out_trade_no] = answer["trade_no"]
    served.cli("order", "mark-paid", trade_nos["PAID"], "--reason", "测试")
    return merchant, trade_nos


async def test_serve_starts_on_a_full_disk_serves_reads_refuses_orders_quietly_and_recovers(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    data = small_disk.path / "data"
    env = server_env(data)
    async with serving(env, tmp_path / "first.log") as served, aiohttp.ClientSession() as http:
        merchant, trade_nos = await _prepare(served, http)
        served.terminate()
        assert await served.exit_code(within=20) == 0, served.logs()
    with sqlite3.connect(data / "mapay.sqlite3") as conn:  # the expiry sweep has something to write
        conn.execute("UPDATE orders SET expires_at = 0 WHERE trade_no = ?", (trade_nos["OVERDUE"],))
    conn.close()
    small_disk.fill()

    loop = asyncio.get_running_loop()
    async with serving(env, tmp_path / "full.log") as served, aiohttp.ClientSession() as http:
        started = loop.time()
        status, health = await _healthz(http, served.url)
        assert status == 503, health
        assert health["reason"] == "disk_full" and health["message"] == DISK_FULL, health

        async with http.get(served.url + f"/pay/{trade_nos['PENDING']}") as response:
            assert response.status == 200
        query = {"act": "query", "pid": str(merchant["pid"]), "key": merchant["key"]}
        async with http.get(served.url + "/api.php", params=query) as response:
            answer = await response.json(content_type=None)
        assert answer["code"] == 1 and answer["orders"] == 1, answer
        status, refused, retry_after = await _mapi(http, served.url, signed_order(merchant, "FULL"))
        assert (status, refused["code"], retry_after) == (503, -1, "30"), refused
        assert DISK_FULL in refused["msg"]

        await asyncio.sleep(max(0.0, started + 7 - loop.time()))  # every per-second loop ran several times
        full_log = served.logs()
        assert "Traceback" not in full_log
        records = _json_lines(full_log)
        assert not [r for r in records if "exception" in r]
        loud = Counter(r["event"] for r in records if r.get("level") in ("warning", "error", "critical"))
        assert loud["storage_failing"] == 1, loud
        assert all(count <= 3 for count in loud.values()), loud

        small_disk.empty()

        async def healthy() -> bool:
            return (await _healthz(http, served.url))[0] == 200

        await eventually(healthy, within=RECOVERY_SECONDS, interval=0.5)
        status, created, _ = await _mapi(http, served.url, signed_order(merchant, "AFTER"))
        assert status == 200 and created["code"] == 1, created
        order_query = {"act": "order", "pid": str(merchant["pid"]), "key": merchant["key"],
                       "trade_no": created["trade_no"]}
        async with http.get(served.url + "/api.php", params=order_query) as response:
            assert (await response.json(content_type=None))["code"] == 1

        def notify_resumed() -> bool:  # the paid order's notify was kept and is tried again
            return any(r.get("event") == "notify_attempt" and r.get("trade_no") == trade_nos["PAID"]
                       for r in _json_lines(served.logs()))

        await eventually(notify_resumed, within=20, interval=0.2)
        served.terminate()
        assert await served.exit_code(within=20) == 0, served.logs()
    events = Counter(r["event"] for r in _json_lines(served.logs()))
    assert events["storage_recovered"] == 1 and events["database_reopened"] == 1, events
    assert "Traceback" not in served.logs()
