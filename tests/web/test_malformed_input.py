"""Malformed requests found by fuzzing: each is the client's mistake, answered 4xx in the surface's own shape,
logged without a traceback, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from agent.codes import Code
from agent.intake.openapi import OPENAPI
from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code
from tests.support.admin_http import AdminSession, admin_session
from tests.support.db_state import database_rows
from tests.support.factories import insert_order
from tests.support.gateway import RunningGateway
from tests.support.logs import Logged, watch_logs

BROKEN_MULTIPART = ("multipart/form-data; boundary=zz", b"garbage")
NOT_UTF8 = ("application/x-www-form-urlencoded", b"a=\xff\xfe")
BAD_BODIES = {"broken multipart": BROKEN_MULTIPART, "not utf-8": NOT_UTF8}
TOO_BIG = "99999999999999999999999"


@pytest.fixture
async def code(gateway: RunningGateway) -> Code:
    return await add_code(gateway, terminal_id="T1")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def admin(gateway: RunningGateway) -> AdminSession:
    return await admin_session(gateway)


@pytest.fixture
def logged() -> Any:
    with watch_logs() as logs:
        yield logs


async def _send(
    http: aiohttp.ClientSession, gateway: RunningGateway, method: str, path: str, body: bytes = b"",
    content_type: str | None = None, admin: AdminSession | None = None,
) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = {"Content-Type": content_type} if content_type else {}
    if admin is not None:
        headers["Cookie"] = admin.cookie
    async with http.request(method, gateway.url + path, data=body, headers=headers, allow_redirects=False) as r:
        return r.status, await r.text(errors="replace"), r


def _clean(logged: Logged) -> None:
    assert logged.errors_with_traceback() == []


@pytest.mark.parametrize("body", list(BAD_BODIES))
@pytest.mark.parametrize("path", ["/admin/login", "/admin/logout", "/admin/merchants", "/admin/codes"])
async def test_an_unreadable_admin_body_is_a_400_before_any_session_check(
    gateway: RunningGateway, merchant: Merchant, http: aiohttp.ClientSession, logged: Logged, path: str, body: str
) -> None:
    before = await database_rows(gateway)
    content_type, data = BAD_BODIES[body]
    status, text, _ = await _send(http, gateway, "POST", path, data, content_type)
    assert status == 400, text
    assert any("\u4e0d" <= ch <= "\u9fff" for ch in text), text  # said in Chinese
    assert await database_rows(gateway) == before
    _clean(logged)


@pytest.mark.parametrize("body", list(BAD_BODIES))
async def test_an_unreadable_admin_body_is_a_400_when_signed_in_too(
    gateway: RunningGateway, admin: AdminSession, http: aiohttp.ClientSession, logged: Logged, body: str
) -> None:
    before = await database_rows(gateway)
    content_type, data = BAD_BODIES[body]
    status, _, _ = await _send(http, gateway, "POST", "/admin/merchants", data, content_type, admin)
    assert status == 400
    assert await database_rows(gateway) == before
    _clean(logged)


@pytest.mark.parametrize("body", list(BAD_BODIES))
async def test_an_unreadable_method_choice_is_a_400_and_leaves_the_order_untyped(
    gateway: RunningGateway, merchant: Merchant, code: Code, http: aiohttp.ClientSession, logged: Logged,
    body: str,
) -> None:
    order = await insert_order(gateway.app, merchant, code, type=None)
    before = await database_rows(gateway)
    content_type, data = BAD_BODIES[body]
    status, text, _ = await _send(http, gateway, "POST", f"/pay/{order.trade_no}/method", data, content_type)
    assert status == 400, text
    assert await database_rows(gateway) == before
    _clean(logged)


async def test_json_nested_a_thousand_deep_is_a_400_not_a_recursion_error(
    gateway: RunningGateway, merchant: Merchant, code: Code, http: aiohttp.ClientSession, logged: Logged
) -> None:
    before = await database_rows(gateway)
    for deep in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000):
        status, text, _ = await _send(http, gateway, "POST", "/api/v1/orders", deep, "application/json")
        assert status == 400, text
        assert '"invalid_request"' in text
    assert await database_rows(gateway) == before
    _clean(logged)


EPAY_BAD_INPUT = {
    "mapi broken multipart": ("POST", "/mapi.php", *BROKEN_MULTIPART),
    "mapi not utf-8": ("POST", "/mapi.php", *NOT_UTF8),
    "api broken multipart": ("POST", "/api.php", *BROKEN_MULTIPART),
    "api not utf-8": ("POST", "/api.php", *NOT_UTF8),
    "api query pid in Unicode digits": ("GET", "/api.php?act=query&pid=%C2%B2&key=x", None, b""),
    "mapi Unicode digit pid": ("POST", "/mapi.php", "application/x-www-form-urlencoded", "pid=²&sign=x".encode()),
}


@pytest.mark.parametrize("case", list(EPAY_BAD_INPUT))
async def test_epay_json_endpoints_answer_a_bad_parameter_in_their_shape(
    gateway: RunningGateway, merchant: Merchant, code: Code, http: aiohttp.ClientSession, logged: Logged,
    case: str,
) -> None:
    method, path, content_type, data = EPAY_BAD_INPUT[case]
    before = await database_rows(gateway)
    status, text, _ = await _send(http, gateway, method, path, data, content_type)
    assert status == 200, text
    answer = _json(text)
    assert answer["code"] < 0 and "系统繁忙" not in answer["msg"], answer
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer["msg"]), answer
    assert logged.event("intake_failed") == [] and logged.event("intake_refused"), logged.events
    assert await database_rows(gateway) == before
    _clean(logged)


async def test_api_php_limit_in_unicode_digits_is_refused_as_a_bad_limit(
    gateway: RunningGateway, merchant: Merchant, http: aiohttp.ClientSession, logged: Logged
) -> None:
    for limit in ("%C2%B2", "%D9%A3", TOO_BIG):  # ², Arabic-Indic three, beyond int64
        path = f"/api.php?act=orders&pid={merchant.pid}&key={merchant.key}&limit={limit}"
        status, text, _ = await _send(http, gateway, "GET", path)
        answer = _json(text)
        assert (status, answer["code"]) == (200, -4) and "limit" in answer["msg"], answer
    _clean(logged)


@pytest.mark.parametrize("body", list(BAD_BODIES))
async def test_submit_answers_an_unreadable_body_with_its_error_page(
    gateway: RunningGateway, http: aiohttp.ClientSession, logged: Logged, body: str
) -> None:
    before = await database_rows(gateway)
    content_type, data = BAD_BODIES[body]
    status, text, _ = await _send(http, gateway, "POST", "/submit.php", data, content_type)
    assert status == 400 and "下单失败" in text and "系统繁忙" not in text
    assert await database_rows(gateway) == before
    _clean(logged)


SIGNED_IN_NUMBERS = {
    f"/admin/accounts/{TOO_BIG}": 404,
    f"/admin/codes/{TOO_BIG}": 404,
    f"/admin/orders?page={TOO_BIG}": 404,
    "/admin/orders?page=%C2%B2": 404,
    "/admin/orders?page=0": 404,
    f"/admin/orders?pid={TOO_BIG}": 400,
    "/admin/orders?pid=%C2%B2": 400,
    "/admin/accounts/%D9%A3": 404,  # Arabic-Indic three: \\d matches it, the route does not
}


@pytest.mark.parametrize("path", list(SIGNED_IN_NUMBERS))
async def test_signed_in_pages_refuse_numbers_sqlite_cannot_hold(
    gateway: RunningGateway, admin: AdminSession, http: aiohttp.ClientSession, logged: Logged, path: str
) -> None:
    status, text, _ = await _send(http, gateway, "GET", path, admin=admin)
    assert status == SIGNED_IN_NUMBERS[path], text
    _clean(logged)


@pytest.mark.parametrize(
    "path, form, expected",
    [
        ("/admin/codes", "account=%C2%B2&payload=x", 400),
        ("/admin/codes", f"account={TOO_BIG}&payload=x", 400),
        (f"/admin/codes/{TOO_BIG}/enabled", "enabled=1", 404),
        (f"/admin/merchants/{TOO_BIG}/rotate", "", 404),
        (f"/admin/transactions/{TOO_BIG}/dismiss", "reason=x", 404),
        (f"/admin/accounts/{TOO_BIG}/retry", "", 404),
    ],
)
async def test_signed_in_posts_refuse_numbers_sqlite_cannot_hold(
    gateway: RunningGateway, admin: AdminSession, http: aiohttp.ClientSession, logged: Logged,
    path: str, form: str, expected: int,
) -> None:
    before = await database_rows(gateway)
    body = f"_csrf={admin.csrf}&{form}".encode()
    status, text, _ = await _send(http, gateway, "POST", path, body, "application/x-www-form-urlencoded", admin)
    assert status == expected, text
    if path == "/admin/codes":
        assert "请选择所属账号" in text
    assert await database_rows(gateway) == before
    _clean(logged)


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/mapi.php", {"GET", "HEAD", "POST"}),
        ("DELETE", "/api/v1/orders", {"POST"}),
        ("PUT", "/api/v1/openapi.json", {"GET", "HEAD"}),
        ("PUT", "/admin/login", {"GET", "HEAD", "POST"}),
        ("PATCH", "/admin/merchants", {"GET", "HEAD", "POST"}),
        ("POST", "/pay/T1", {"GET", "HEAD"}),
        ("DELETE", "/healthz", {"GET", "HEAD"}),
    ],
)
async def test_405_says_which_methods_are_allowed(
    gateway: RunningGateway, http: aiohttp.ClientSession, method: str, path: str, allowed: set[str]
) -> None:
    status, _, response = await _send(http, gateway, method, path)
    assert status == 405
    assert set(response.headers["Allow"].split(",")) == allowed


def test_the_openapi_document_says_what_is_refused() -> None:
    create = OPENAPI["paths"]["/api/v1/orders"]["post"]
    pid = create["requestBody"]["content"]["application/json"]["schema"]["properties"]["pid"]
    integer, string = pid["oneOf"]
    assert (integer["type"], integer["minimum"], integer["maximum"]) == ("integer", 1, 9_999_999_999)
    assert string["pattern"] == "^0*[1-9][0-9]{0,9}$"
    assert {"400", "413"} <= set(create["responses"])
    query_pid = next(p for p in OPENAPI["paths"]["/api/v1/orders/{trade_no}"]["get"]["parameters"] if p["name"] == "pid")
    assert query_pid["schema"]["minimum"] == 1


def _json(text: str) -> dict[str, Any]:
    return dict(json.loads(text))
