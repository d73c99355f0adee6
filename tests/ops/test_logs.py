"""The logs of a real ``mapay serve`` and CLI session: JSON lines, and no secret in any of them."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path

import aiohttp

from agent.log import redact_query_secrets
from tests.ops.served import Served, add_code, server_env, serving, signed_order


async def _admin_sign_in(http: aiohttp.ClientSession, served: Served, username: str, password: str) -> int:
    async with http.get(served.url + "/admin/login") as response:
        page = await response.text()
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match, page
    form = {"_csrf": match.group(1), "username": username, "password": password}
    async with http.post(served.url + "/admin/login", data=form, allow_redirects=False) as response:
        return response.status


async def test_a_session_with_logins_orders_and_refusals_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    provider_password = "provider-" + secrets.token_hex(8)
    admin_password = "admin-" + secrets.token_hex(8)
    wrong_password = "wrong-" + secrets.token_hex(8)
    env = server_env(tmp_path / "data")
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from 127.0.0.1
    async with serving(env, tmp_path / "serve.log") as served, aiohttp.ClientSession(cookie_jar=jar) as http:
        merchant = served.cli_json("merchant", "add", "小店")
        add_code(served, password=provider_password)
        served.cli("admin", "create", "root", "--password-stdin", stdin=admin_password + "\n")

        order = signed_order(merchant, "LOG-1")
        async with http.post(served.url + "/mapi.php", data=order) as response:
            created = await response.json()
        assert created["code"] == 1, created
        query = {"act": "order", "pid": str(merchant["pid"]), "key": merchant["key"], "trade_no": created["trade_no"]}
        async with http.get(served.url + "/api.php", params=query) as response:
            assert (await response.json(content_type=None))["code"] == 1
        forged = {**signed_order(merchant, "LOG-2"), "money": "0.01"}  # signature no longer matches
        async with http.post(served.url + "/mapi.php", data=forged) as response:
            assert (await response.json())["code"] == -1

        assert await _admin_sign_in(http, served, "root", wrong_password) == 401
        assert await _admin_sign_in(http, served, "root", admin_password) == 303
        session_cookies = [c.value for c in http.cookie_jar if c.value]
        assert session_cookies

        served.terminate()
        assert await served.exit_code(within=20) == 0

    server_lines = served.logs().splitlines()
    events = [json.loads(line) for line in server_lines]  # every line is one JSON object
    assert all(isinstance(e.get("event"), str) and e.get("level") and e.get("timestamp") for e in events)
    assert any(e["event"] == "intake_refused" for e in events)  # the forged order was logged, as an event

    everything = served.logs() + "".join(served.cli_stderr)
    leaked = {
        "merchant key": merchant["key"],
        "provider password": provider_password,
        "admin password": admin_password,
        "mistyped admin password": wrong_password,
        "order signature": order["sign"],
        "secret key": env["MAPAY_SECRET_KEY"],
        **{f"cookie {n}": value for n, value in enumerate(session_cookies)},
    }
    assert [name for name, secret in leaked.items() if secret in everything] == []


async def _send_raw(served: Served, request: bytes) -> bytes:
    """One request exactly as written, on a plain socket: no client library tidies it up first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


async def test_a_malformed_request_line_is_logged_as_json_without_the_merchant_key(tmp_path: Path) -> None:
    key = "K" + secrets.token_hex(16)
    too_long = b"a" * 9000
    async with serving(server_env(tmp_path / "data"), tmp_path / "serve.log") as served:
        bad_char = await _send_raw(
            served, b"GET /api.php?act=query&pid=1&key=" + key.encode() + b"&x=a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        over_8190 = await _send_raw(
            served, b"GET /api.php?act=query&pid=1&key=" + key.encode() + b"&x=" + too_long + b" HTTP/1.1\r\n\r\n"
        )
        served.terminate()
        assert await served.exit_code(within=20) == 0

    assert bad_char.startswith(b"HTTP/1.") and b" 400 " in bad_char.split(b"\r\n")[0]
    assert over_8190.startswith(b"HTTP/1.") and b" 400 " in over_8190.split(b"\r\n")[0]
    output = served.logs()
    assert key not in output
    events = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    refused = [e for e in events if e["event"] == "http_request_refused"]
    assert len(refused) == 2 and all("key=***" in e["error"] for e in refused)


def test_query_secrets_are_redacted_in_any_text() -> None:
    assert redact_query_secrets("GET /api.php?pid=1&key=abc&sign=def&sign_type=MD5&money=1 HTTP/1.1") == (
        "GET /api.php?pid=1&key=***&sign=***&sign_type=MD5&money=1 HTTP/1.1"
    )
    assert redact_query_secrets("b'/x?access_token=t0k\\x01&password=p w'") == "b'/x?access_token=***\\x01&password=*** w'"
    assert redact_query_secrets("merchant_key%3Dabc&keyless=1") == "merchant_key%3D***&keyless=1"
