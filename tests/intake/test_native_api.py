"""The native JSON API: signed JSON create, signed GET, JSON errors with HTTP statuses, OpenAPI document."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from agent import epay
from agent.codes import Code
from agent.merchants import Merchant
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi, order_fields
from tests.support.gateway import RunningGateway


async def _post(gateway: RunningGateway, body: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(gateway.url + "/api/v1/orders", json=body) as response:
        return response.status, await response.json()


async def _get(gateway: RunningGateway, trade_no: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{gateway.url}/api/v1/orders/{trade_no}", params=params
    ) as response:
        return response.status, await response.json()


def _read_params(merchant: Merchant, trade_no: str) -> dict[str, str]:
    return {"pid": str(merchant.pid), "sign": epay.sign({"pid": str(merchant.pid), "trade_no": trade_no}, merchant.key)}


async def test_create_then_read(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    await mapi(gateway, merchant, money="9.90")  # so the native order pays an offset amount
    status, created = await _post(gateway, order_fields(merchant, money="9.90", type=None, clientip=None))
    assert status == 201
    assert (created["money"], created["pay_amount"], created["status"], created["type"]) == (
        "9.90", "9.89", "pending", None)
    assert created["payurl"] == f"{gateway.url}/pay/{created['trade_no']}"
    assert created["expires_at"].endswith("+08:00")

    status, read = await _get(gateway, created["trade_no"], _read_params(merchant, created["trade_no"]))
    assert status == 200 and read == created


async def test_integer_pid_is_signed_as_its_string(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    body: dict[str, Any] = order_fields(merchant)
    body["pid"] = merchant.pid
    status, _ = await _post(gateway, body)
    assert status == 201


async def test_reuse_answers_200_with_the_same_order(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    fields = order_fields(merchant)
    first_status, first = await _post(gateway, fields)
    again_status, again = await _post(gateway, fields)
    assert (first_status, again_status) == (201, 200) and first == again


@pytest.mark.parametrize(
    "mutate, status, error",
    [
        (lambda b: b.update(sign="0" * 32), 401, "invalid_sign"),
        (lambda b: b.update(money=10.0), 400, "invalid_request"),
        (lambda b: b.update(pid="999999"), 404, "unknown_merchant"),
        (lambda b: b.update(name=["x"]), 400, "invalid_request"),
        (lambda b: b.clear(), 400, "invalid_request"),
    ],
)
async def test_create_refusals(
    gateway: RunningGateway, merchant: Merchant, code: Code, mutate: Any, status: int, error: str
) -> None:
    before = await snapshot(gateway)
    body: dict[str, Any] = order_fields(merchant)
    mutate(body)
    got_status, answer = await _post(gateway, body)
    assert (got_status, answer["error"]) == (status, error) and answer["message"]
    assert await snapshot(gateway) == before


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b"null"])
async def test_malformed_json_is_a_400(gateway: RunningGateway, body: bytes) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/api/v1/orders", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"


async def test_conflicts_are_409(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    await _post(gateway, order_fields(merchant, out_trade_no="N1"))
    status, answer = await _post(gateway, order_fields(merchant, out_trade_no="N1", money="1.00"))
    assert (status, answer["error"]) == (409, "conflict")


async def test_read_refusals(gateway: RunningGateway, merchant: Merchant, code: Code) -> None:
    created = (await _post(gateway, order_fields(merchant)))[1]
    trade_no = created["trade_no"]
    assert (await _get(gateway, trade_no, {"pid": str(merchant.pid), "sign": "0" * 32}))[0] == 401
    assert (await _get(gateway, "123", _read_params(merchant, "123")))[0] == 404
    status, answer = await _get(gateway, "nope", {"pid": "x"})
    assert status == 400 and answer["error"] == "invalid_request"


async def test_unknown_api_paths_are_json_404(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + "/api/v1/nothing") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"


async def test_openapi_document_describes_the_api(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + "/api/v1/openapi.json") as response:
        document = await response.json()
    assert document["openapi"].startswith("3.1")
    assert {"/api/v1/orders", "/api/v1/orders/{trade_no}"} <= set(document["paths"])
    create = document["paths"]["/api/v1/orders"]["post"]
    assert {"201", "200", "400", "401", "409", "503"} <= set(create["responses"])
