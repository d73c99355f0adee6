"""The logs of a real ``mapay serve`` and CLI session: JSON lines, and no secret in any of them."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import aiohttp

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
