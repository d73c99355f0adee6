"""A key rotated or a merchant disabled by another process (the CLI) stops working in the running gateway."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp

from tests.ops.served import Served, add_code, server_env, serving, signed_order

WITHIN_SECONDS = 3.0
_numbers = itertools.count(1)


async def _mapi(http: aiohttp.ClientSession, served: Served, merchant: dict[str, Any]) -> dict[str, Any]:
    fields = signed_order(merchant, f"R{next(_numbers):06d}")
    async with http.post(served.url + "/mapi.php", data=fields) as response:
        answer: dict[str, Any] = await response.json(content_type=None)
        return answer


async def _query(http: aiohttp.ClientSession, served: Served, merchant: dict[str, Any]) -> dict[str, Any]:
    params = {"act": "query", "pid": str(merchant["pid"]), "key": merchant["key"]}
    async with http.get(served.url + "/api.php", params=params) as response:
        answer: dict[str, Any] = await response.json(content_type=None)
        return answer


async def _within(seconds: float, check: Any) -> float:
    """Seconds until ``check()`` (a coroutine function) returns True; fails after ``seconds``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await check():
        assert loop.time() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.1)
    return loop.time() - started


async def test_a_key_rotated_from_the_cli_is_refused_by_the_running_gateway_within_seconds(tmp_path: Path) -> None:
    async with serving(server_env(tmp_path / "data"), tmp_path / "serve.log") as served:
        merchant = served.cli_json("merchant", "add", "小店")
        add_code(served)
        async with aiohttp.ClientSession() as http:
            assert (await _mapi(http, served, merchant))["code"] == 1  # the old key is now in the server's cache
            assert (await _query(http, served, merchant))["code"] == 1
            rotated = merchant | {"key": served.cli_json("merchant", "rotate-key", str(merchant["pid"]))["key"]}

            async def old_refused_new_accepted() -> bool:
                old, new = await _mapi(http, served, merchant), await _mapi(http, served, rotated)
                return old["code"] != 1 and old["msg"] == "签名错误" and new["code"] == 1

            await _within(WITHIN_SECONDS, old_refused_new_accepted)
            assert (await _query(http, served, merchant))["code"] != 1  # api.php's plain key too
            assert (await _query(http, served, rotated))["code"] == 1


async def test_a_merchant_disabled_from_the_cli_is_refused_within_seconds_and_back_when_enabled(
    tmp_path: Path,
) -> None:
    async with serving(server_env(tmp_path / "data"), tmp_path / "serve.log") as served:
        merchant = served.cli_json("merchant", "add", "小店")
        add_code(served)
        pid = str(merchant["pid"])
        async with aiohttp.ClientSession() as http:
            assert (await _mapi(http, served, merchant))["code"] == 1
            assert served.cli_json("merchant", "disable", pid)["enabled"] is False

            async def refused() -> bool:
                answer = await _mapi(http, served, merchant)
                return answer["code"] != 1 and answer["msg"] == "商户已被禁用"

            await _within(WITHIN_SECONDS, refused)
            assert served.cli_json("merchant", "enable", pid)["enabled"] is True

            async def accepted() -> bool:
                return (await _mapi(http, served, merchant))["code"] == 1

            await _within(WITHIN_SECONDS, accepted)
