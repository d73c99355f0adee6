"""Failed sign-ins slow down one (username, client) pair only: a guesser never locks out the real admin."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from unittest import mock

import aiohttp
from aiohttp.test_utils import make_mocked_request

from agent.admin.auth import AdminAuth, create_admin
from agent.appkeys import DB
from agent.db import Database
from agent.settings import Settings
from agent.web.client import client_address
from tests.admin.conftest import ADMIN_PASSWORD
from tests.support.gateway import RunningGateway, running_gateway

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]
CSRF = "login-csrf-token"


async def _sign_in(
    http: aiohttp.ClientSession, gateway: RunningGateway, password: str, forwarded_for: str | None = None
) -> aiohttp.ClientResponse:
    headers = {"Cookie": f"mapay_admin_login={CSRF}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    form = {"_csrf": CSRF, "username": "boss", "password": password}
    async with http.post(
        gateway.url + "/admin/login", data=form, headers=headers, allow_redirects=False
    ) as response:
        await response.read()
        return response


async def _locks(gateway: RunningGateway) -> list[dict[str, object]]:
    rows = await gateway.app[DB].fetchall(
        "SELECT actor, target, detail FROM audit_log WHERE action = 'admin.sign_in_locked' ORDER BY id"
    )
    return [{"actor": r["actor"], "target": r["target"], **json.loads(r["detail"])} for r in rows]


async def test_a_guesser_behind_the_trusted_proxy_does_not_lock_out_the_real_admin(settings: Settings) -> None:
    settings = settings.model_copy(update={"trusted_proxies": LOOPBACK, "admin_max_failures": 3})
    async with running_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        await create_admin(gateway.app[DB], "boss", ADMIN_PASSWORD)
        statuses = [(await _sign_in(http, gateway, f"guess {i}", "203.0.113.9")).status for i in range(6)]
        assert statuses == [401, 401, 401, 429, 429, 429]  # the guesser now waits before each try

        # Through the same proxy (the same socket peer), the real admin from their own address signs in.
        admin = await _sign_in(http, gateway, ADMIN_PASSWORD, "198.51.100.7")
        assert admin.status == 303

        refused = await _sign_in(http, gateway, ADMIN_PASSWORD, "203.0.113.9")  # the guesser's wait is not lifted
        assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "请 " in await refused.text() and "秒后再试" in await refused.text()
        assert await _locks(gateway) == [
            {"actor": "system", "target": "boss", "client": "203.0.113.9", "failures": 3, "wait_seconds": 2}
        ]


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Settings) -> None:
    async with running_gateway(settings.model_copy(update={"admin_max_failures": 2})) as gateway:
        await create_admin(gateway.app[DB], "boss", ADMIN_PASSWORD)
        async with aiohttp.ClientSession() as http:
            assert (await _sign_in(http, gateway, "guess", "203.0.113.1")).status == 401
            assert (await _sign_in(http, gateway, "guess", "203.0.113.2")).status == 401
            # A new X-Forwarded-For does not make a new client: the peer is no trusted proxy.
            assert (await _sign_in(http, gateway, ADMIN_PASSWORD, "203.0.113.3")).status == 429
        locks = await _locks(gateway)
        assert [lock["client"] for lock in locks] == ["127.0.0.1"]


async def _auth(tmp_path: Path, clock: list[int]) -> tuple[Database, AdminAuth]:
    db = Database(tmp_path / "auth.sqlite3")
    await db.__aenter__()
    await create_admin(db, "boss", ADMIN_PASSWORD)
    auth = AdminAuth(db, session_ms=3_600_000, max_failures=2, max_wait_ms=30_000, clock=lambda: clock[0])
    return db, auth


async def test_waits_double_after_the_allowed_failures_up_to_the_longest_wait(tmp_path: Path) -> None:
    clock = [1_000_000_000]
    db, auth = await _auth(tmp_path, clock)
    try:
        waits = []
        for _ in range(8):
            result = await auth.sign_in("boss", "wrong", "203.0.113.9")
            assert result.checked and result.token is None
            waits.append(result.wait_seconds)
            if result.wait_seconds:  # too early, even with the password
                early = await auth.sign_in("boss", ADMIN_PASSWORD, "203.0.113.9")
                assert (early.checked, early.token, early.wait_seconds) == (False, None, result.wait_seconds)
                clock[0] += result.wait_seconds * 1000 - 1
                assert (await auth.sign_in("boss", ADMIN_PASSWORD, "203.0.113.9")).wait_seconds == 1
                clock[0] += 1
        assert waits == [0, 2, 4, 8, 16, 30, 30, 30]

        details = [json.loads(d) for (d,) in await db.fetchall(
            "SELECT detail FROM audit_log WHERE action = 'admin.sign_in_locked' ORDER BY id"
        )]
        assert [d["wait_seconds"] for d in details] == [2, 4, 8, 16, 30, 30, 30]

        other = await auth.sign_in("boss", ADMIN_PASSWORD, "198.51.100.7")  # a client that has not failed
        assert other.token is not None
        assert (await auth.sign_in("boss", ADMIN_PASSWORD, "203.0.113.9")).token is not None  # waited: goes in
        assert (await auth.sign_in("boss", "wrong", "203.0.113.9")).wait_seconds == 0  # its failures forgotten
    finally:
        await db.__aexit__(None, None, None)


def _request(peer: str, forwarded_for: str | None = None) -> aiohttp.web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 1234) if name == "peername" else default
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return make_mocked_request("POST", "/admin/login", headers=headers, transport=transport)


def test_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    proxies = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]
    assert client_address(_request("198.51.100.7", "1.2.3.4"), proxies) == "198.51.100.7"  # peer not trusted
    assert client_address(_request("127.0.0.1", "1.2.3.4"), []) == "127.0.0.1"  # no proxy configured
    assert client_address(_request("127.0.0.1"), proxies) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", "6.6.6.6, 1.2.3.4"), proxies) == "1.2.3.4"  # 6.6.6.6: the client's lie
    assert client_address(_request("127.0.0.1", "1.2.3.4, 10.1.2.3"), proxies) == "1.2.3.4"  # two proxies
    assert client_address(_request("127.0.0.1", "1.2.3.4:5678"), proxies) == "1.2.3.4"
    assert client_address(_request("127.0.0.1", "[2001:db8::1]:443"), proxies) == "2001:db8::1"
    assert client_address(_request("127.0.0.1", "1.2.3.4, nonsense"), proxies) == "127.0.0.1"
