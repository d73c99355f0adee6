"""A first start on a full disk: the platform RSA key cannot be written, yet the gateway starts; RSA requests
are answered "try later" (503) until space is back, then the key is made and signs as usual."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.db.storage import MESSAGES
from tests.ops.served import Served, add_code, server_env, serving
from tests.ops.small_disk import SmallDisk, mounted_small_disk
from tests.support.epay_v2_client import V2Merchant, create_fields
from tests.support.eventually import eventually


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with mounted_small_disk(tmp_path / "disk") as disk:
        yield disk


async def _create(http: aiohttp.ClientSession, served: Served, client: V2Merchant) -> tuple[int, dict[str, Any]]:
    async with http.post(served.url + "/api/pay/create", data=client.sign(create_fields())) as response:
        return response.status, await response.json(content_type=None)


async def test_a_first_start_on_a_full_disk_starts_and_makes_the_platform_key_once_space_is_back(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    env = server_env(small_disk.path / "data")
    client = V2Merchant.new(1, "")
    pem = tmp_path / "merchant.pem"
    pem.write_text(client.public_pem)
    async with serving(env, tmp_path / "prepare.log") as served:
        served.cli_json("merchant", "add", "小店")
        served.cli_json("merchant", "set-rsa-key", "1", "--public-key-file", str(pem))
        add_code(served)
        served.terminate()
        assert await served.exit_code(within=20) == 0
    # That start made the platform key: take it away, as on a database only the CLI has written to.
    with sqlite3.connect(small_disk.path / "data" / "mapay.sqlite3") as conn:
        conn.execute("DELETE FROM platform_keys")
    conn.close()
    small_disk.fill()

    async with serving(env, tmp_path / "full.log") as served, aiohttp.ClientSession() as http:
        status, refused = await _create(http, served, client)
        assert status == 503 and refused["code"] != 0 and MESSAGES["disk_full"] in refused["msg"], refused
        assert "Traceback" not in served.logs()
        small_disk.empty()

        async def created() -> bool:
            status, answer = await _create(http, served, client)
            return status == 200 and answer["code"] == 0

        await eventually(created, within=60, interval=0.5)
        client.platform_public = served.cli("platform-key").stdout.strip()
        status, answer = await _create(http, served, client)
        assert answer["code"] == 0 and client.verifies(answer)
        assert "Traceback" not in served.logs()
