"""Only a signed-in admin watches a take-over: its socket wants this session's one-time ticket for this account
and a handshake from the console's own origin; starting one is a POST with the session's CSRF token."""

from __future__ import annotations

import aiohttp
import pytest

from agent.admin.plumbing import SESSION_COOKIE, admin_auth
from agent.appkeys import ACCOUNTS, DB
from agent.liveview.takeover import TAKEOVERS, session_key
from tests.support.gateway import RunningGateway


async def _session(gateway: RunningGateway, admin_name: str) -> str:
    db = gateway.app[DB]
    admin_id = await db.fetchval("SELECT id FROM admins WHERE username = ?", (admin_name,))
    return await admin_auth(gateway.settings, db).open_session(admin_id)


async def _handshake(gateway: RunningGateway, cookie: str | None, path: str, origin: str | None) -> int:
    """The status the socket's handshake gets (101 when it opens)."""
    headers = {"Origin": origin} if origin else {}
    cookies = {SESSION_COOKIE: cookie} if cookie else {}
    async with aiohttp.ClientSession(cookies=cookies) as http:
        try:
            async with http.ws_connect(gateway.url + path, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.fixture
async def account_id(gateway: RunningGateway) -> int:
    account = await gateway.app[ACCOUNTS].add_account("zhihui", "门店一", "13800000031", "pw-12345678",
                                                      "http://127.0.0.1:9")
    return account.id


async def test_the_stream_refuses_a_missing_or_foreign_or_used_ticket_and_a_wrong_origin(
    gateway: RunningGateway, admin_name: str, account_id: int,
) -> None:
    mine, theirs = await _session(gateway, admin_name), await _session(gateway, admin_name)
    desk = gateway.app[TAKEOVERS]
    socket = f"/admin/accounts/{account_id}/takeover/socket"
    origin = gateway.url

    assert await _handshake(gateway, mine, socket, origin) == 403  # no ticket
    ticket = desk.ticket(account_id, session_key(theirs))
    assert await _handshake(gateway, mine, f"{socket}?ticket={ticket}", origin) == 403  # another session's
    ticket = desk.ticket(account_id, session_key(mine))
    assert await _handshake(gateway, mine, f"{socket}?ticket={ticket}", "http://evil.example") == 403
    assert await _handshake(gateway, mine, f"{socket}?ticket={ticket}", None) == 403  # no Origin at all
    assert await _handshake(gateway, None, f"{socket}?ticket={ticket}", origin) in (200, 303)  # to the sign-in page
    other = desk.ticket(account_id + 1, session_key(mine))
    assert await _handshake(gateway, mine, f"{socket}?ticket={other}", origin) == 403  # another account's
    # The right ticket, session and origin pass every check (no take-over is running here: 404, not 403),
    # and the ticket is spent: presenting it again is refused.
    ticket = desk.ticket(account_id, session_key(mine))
    assert await _handshake(gateway, mine, f"{socket}?ticket={ticket}", origin) == 404
    assert await _handshake(gateway, mine, f"{socket}?ticket={ticket}", origin) == 403


async def test_starting_a_take_over_needs_the_sessions_csrf_token(
    gateway: RunningGateway, admin_name: str, account_id: int,
) -> None:
    token = await _session(gateway, admin_name)
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
        for form in ({}, {"_csrf": "forged"}):
            async with http.post(f"{gateway.url}/admin/accounts/{account_id}/takeover", data=form,
                                 allow_redirects=False) as refused:
                assert refused.status == 403
    assert gateway.app[TAKEOVERS].current(account_id) is None
    async with aiohttp.ClientSession() as stranger, stranger.post(
            f"{gateway.url}/admin/accounts/{account_id}/takeover", data={"_csrf": "x"}, allow_redirects=False) as out:
        assert out.status == 403
    session = await admin_auth(gateway.settings, gateway.app[DB]).session(token)
    assert session is not None
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http, http.post(
            f"{gateway.url}/admin/accounts/{account_id}/takeover", data={"_csrf": session.csrf_token},
            allow_redirects=False) as accepted:
        assert accepted.status == 409  # the CSRF check passed; this gateway runs no browser agent to take over


@pytest.fixture
async def admin_name(gateway: RunningGateway) -> str:
    from agent.admin.auth import create_admin

    await create_admin(gateway.app[DB], "boss", "correct horse battery")
    return "boss"
