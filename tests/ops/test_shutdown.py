"""SIGTERM on a real ``mapay serve`` process: new orders get a clear 503, running work finishes, exit 0."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from agent.db import Database
from agent.matching.confirm import mark_paid
from agent.ops.drain import DRAINING_MESSAGE
from tests.ops.served import Served, add_code, server_env, serving, signed_order


class PartialPost:
    """A POST whose headers are sent but whose body is held back: a request in flight."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rest: bytes) -> None:
        self._reader, self._writer, self._rest = reader, writer, rest

    @classmethod
    async def start(cls, served: Served, path: str, fields: dict[str, str]) -> PartialPost:
        body = urlencode(fields).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body[:5])
        await writer.drain()
        return cls(reader, writer, body[5:])

    def close(self) -> None:
        self._writer.close()

    async def finish(self) -> tuple[int, dict[str, Any]]:
        self._writer.write(self._rest)
        await self._writer.drain()
        raw = await asyncio.wait_for(self._reader.read(), timeout=10)
        self._writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)


async def _until_draining(http: aiohttp.ClientSession, served: Served) -> None:
    for _ in range(100):
        async with http.get(served.url + "/healthz") as response:
            if response.status == 503 and (await response.json())["status"] == "draining":
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the server never reported draining")


async def _round_trip(http: aiohttp.ClientSession, served: Served) -> None:
    """Once a later request is answered, the single-threaded server has read the held one's headers."""
    async with http.get(served.url + "/pay/none"):
        pass


async def test_sigterm_refuses_new_orders_finishes_the_running_one_and_exits_cleanly(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data")
    async with serving(env, tmp_path / "serve.log") as served, aiohttp.ClientSession() as http:
        merchant = served.cli_json("merchant", "add", "小店")
        add_code(served)
        async with http.post(served.url + "/mapi.php", data=signed_order(merchant, "BEFORE")) as response:
            before = await response.json()
        assert before["code"] == 1, before

        in_flight = await PartialPost.start(served, "/mapi.php", signed_order(merchant, "IN-FLIGHT", money="20.00"))
        await _round_trip(http, served)
        served.terminate()
        await _until_draining(http, served)

        async with http.post(served.url + "/mapi.php", data=signed_order(merchant, "AFTER")) as response:
            assert response.status == 503 and response.headers["Retry-After"]
            assert await response.json() == {"code": -1, "msg": DRAINING_MESSAGE}
        async with http.post(served.url + "/submit.php", data=signed_order(merchant, "AFTER-FORM")) as response:
            assert response.status == 503 and response.content_type == "text/html"
            assert DRAINING_MESSAGE in await response.text()
        async with http.post(served.url + "/api/v1/orders", json={"money": "1.00"}) as response:
            assert response.status == 503
            assert await response.json() == {"error": "unavailable", "message": DRAINING_MESSAGE}
        async with http.get(served.url + f"/pay/{before['trade_no']}") as response:
            assert response.status == 200  # payers keep their cashier page while we drain

        status, answer = await in_flight.finish()
        assert status == 200 and answer["code"] == 1, answer
        assert await served.exit_code(within=15) == 0, served.logs()
    events = [json.loads(line)["event"] for line in served.logs().splitlines()]
    lifecycle = ["stop_requested", "drain_started", "drain_finished", "stopped"]
    assert [e for e in events if e in lifecycle] == lifecycle
    # The held order was placed while draining, after the stop was requested and before the drain ended.
    assert events.index("drain_started") < len(events) - 1 - events[::-1].index("order_created") \
        < events.index("drain_finished")

    # Nothing pending is lost: a new process on the same data folder knows both orders.
    async with serving(env, tmp_path / "serve-again.log") as again, aiohttp.ClientSession() as http:
        for trade_no in (before["trade_no"], answer["trade_no"]):
            params = {"act": "order", "pid": str(merchant["pid"]), "key": merchant["key"], "trade_no": trade_no}
            async with http.get(again.url + "/api.php", params=params) as response:
                found = await response.json(content_type=None)
            assert found["code"] == 1 and found["status"] == 0, found
        again.terminate()
        assert await again.exit_code(within=15) == 0


async def test_sigterm_gives_up_on_work_that_outlasts_the_shutdown_timeout(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", shutdown_timeout_seconds="1")
    async with serving(env, tmp_path / "serve.log") as served, aiohttp.ClientSession() as http:
        merchant = served.cli_json("merchant", "add", "小店")
        stuck = await PartialPost.start(served, "/mapi.php", signed_order(merchant, "NEVER-FINISHED"))
        await _round_trip(http, served)
        served.terminate()
        assert await served.exit_code(within=15) == 0, served.logs()
        stuck.close()
    drain = [json.loads(line) for line in served.logs().splitlines() if "drain_timed_out" in line]
    assert drain and drain[0]["running_jobs"] == 1 and drain[0]["grace_s"] == 1.0


async def test_sigterm_lets_a_notify_in_flight_finish_and_records_its_ack(tmp_path: Path) -> None:
    received = asyncio.Event()

    async def slow_merchant(request: web.Request) -> web.Response:
        received.set()
        await asyncio.sleep(2)  # still answering when SIGTERM arrives
        return web.Response(text="success")

    merchant_app = web.Application()
    merchant_app.router.add_get("/notify", slow_merchant)
    runner = web.AppRunner(merchant_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    notify_url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
    env = server_env(tmp_path / "data")
    try:
        async with serving(env, tmp_path / "serve.log") as served, aiohttp.ClientSession() as http:
            merchant = served.cli_json("merchant", "add", "小店")
            add_code(served)
            async with http.post(
                served.url + "/mapi.php", data=signed_order(merchant, "NOTIFY-1", notify_url=notify_url)
            ) as response:
                trade_no = (await response.json())["trade_no"]
            async with Database(tmp_path / "data" / "mapay.sqlite3") as db:  # a second process confirms it
                await mark_paid(db, trade_no, actor="test", reason="drain test")
            await asyncio.wait_for(received.wait(), timeout=20)
            served.terminate()
            assert await served.exit_code(within=20) == 0, served.logs()
    finally:
        await runner.cleanup()
    async with Database(tmp_path / "data" / "mapay.sqlite3") as db:
        assert await db.fetchval("SELECT status FROM notify_jobs WHERE trade_no = ?", (trade_no,)) == "acked"
        outcomes = await db.fetchall("SELECT outcome FROM notify_attempts WHERE trade_no = ?", (trade_no,))
    assert [row[0] for row in outcomes] == ["acked"]
    drain = next(json.loads(line) for line in served.logs().splitlines() if "drain_started" in line)
    assert drain["running_jobs"] >= 1
