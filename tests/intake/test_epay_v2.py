"""epay V2 (RSA) end to end with a client written from the reference: create, submit, query, info, refund,
replays, timestamps, wrong keys, MD5 and RSA side by side, signed api.php queries. Refusals change nothing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from agent.appkeys import DB, MERCHANTS
from agent.codes import Code
from agent.db import now_ms
from agent.matching import mark_paid
from agent.merchants import Merchant
from agent.platform_key import PLATFORM_KEY
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi
from tests.support.epay_v2_client import V2Merchant, create_fields, get, platform_verifies, post
from tests.support.gateway import RunningGateway, running_gateway

_TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
async def v2(gateway: RunningGateway, merchant: Merchant) -> V2Merchant:
    """The test merchant with an RSA key pair registered (PEM pasted), MD5 key kept; the platform key given."""
    platform_public = await gateway.app[PLATFORM_KEY].public_key()
    client = V2Merchant.new(merchant.pid, platform_public, md5_key=merchant.key)
    await gateway.app[MERCHANTS].set_rsa_key(merchant.pid, client.public_pem)
    return client


async def create(gateway: RunningGateway, v2: V2Merchant, **fields: str | None) -> dict[str, Any]:
    return await post(gateway.url + "/api/pay/create", v2.sign(create_fields(**fields)))


async def order_row(gateway: RunningGateway, trade_no: str) -> Any:
    return await gateway.app[DB].fetchone("SELECT * FROM orders WHERE trade_no = ?", (trade_no,))


async def refused_without_change(
    gateway: RunningGateway, send: Callable[[], Awaitable[dict[str, Any]]], words: str
) -> dict[str, Any]:
    before = await snapshot(gateway)
    answer = await send()
    assert answer["code"] not in (0, 1) and words in answer["msg"], answer
    assert "sign" not in answer  # errors are plain {"code", "msg"}
    assert await snapshot(gateway) == before
    return answer


async def test_create_answers_code_0_with_a_jump_to_the_cashier_signed_by_the_platform(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    answer = await create(gateway, v2, money="12.34", param="abc")
    assert answer["code"] == 0 and answer["msg"]
    assert answer["pay_type"] == "jump"
    assert answer["pay_info"] == f"{gateway.url}/pay/{answer['trade_no']}"
    assert answer["sign_type"] == "RSA" and abs(int(answer["timestamp"]) - time.time()) < 10
    assert v2.verifies(answer)
    assert not v2.verifies(answer | {"pay_info": "http://evil.example/"})
    row = await order_row(gateway, answer["trade_no"])
    assert (row["sign_type"], row["money_fen"], row["param"], row["status"]) == ("RSA", 1234, "abc", "pending")


async def test_submit_sends_the_browser_to_the_cashier(gateway: RunningGateway, v2: V2Merchant, code: Code) -> None:
    fields = v2.sign(create_fields(method=None, clientip=None, type=None))
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/api/pay/submit", data=fields, allow_redirects=False
    ) as response:
        assert response.status == 302
        trade_no = response.headers["Location"].removeprefix("/pay/")
    row = await order_row(gateway, trade_no)
    assert row["sign_type"] == "RSA" and row["type"] is None  # the payer picks the method


async def test_query_by_either_number_is_signed_and_follows_the_payment(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    created = await create(gateway, v2, money="5.00", out_trade_no="Q-1", param="p")
    by_trade_no = await post(gateway.url + "/api/pay/query", v2.sign({"trade_no": created["trade_no"]}))
    by_out = await post(gateway.url + "/api/pay/query", v2.sign({"out_trade_no": "Q-1"}))
    for answer in (by_trade_no, by_out):
        assert answer["code"] == 0 and v2.verifies(answer)
        assert (answer["trade_no"], answer["out_trade_no"], answer["money"]) == (created["trade_no"], "Q-1", "5.00")
        assert (answer["status"], answer["type"], answer["param"], answer["api_trade_no"]) == (0, "alipay", "p", "")
        assert answer["endtime"] == "" and answer["clientip"] == "127.0.0.1" and answer["refundmoney"] == "0.00"
        time.strptime(answer["addtime"], _TIME)

    await mark_paid(gateway.app[DB], created["trade_no"], actor="test", reason="paid", provider_trade_no="P-77")
    # Signatures are deterministic: the same query within the same second would be a replay.
    later = int(time.time()) + 1
    paid = await post(gateway.url + "/api/pay/query", v2.sign({"trade_no": created["trade_no"]}, timestamp=later))
    assert paid["code"] == 0 and v2.verifies(paid)
    assert (paid["status"], paid["api_trade_no"]) == (1, "P-77")
    time.strptime(paid["endtime"], _TIME)


async def test_query_of_an_unknown_or_foreign_order_is_refused(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    other = await gateway.app[MERCHANTS].create("另一个商户")
    theirs = await mapi(gateway, other)
    for params in ({"trade_no": theirs["trade_no"]}, {"out_trade_no": "nope"}):
        await refused_without_change(
            gateway, lambda p=params: post(gateway.url + "/api/pay/query", v2.sign(p)), "订单不存在"  # type: ignore[misc]
        )


async def test_merchant_info_is_signed(gateway: RunningGateway, v2: V2Merchant, code: Code) -> None:
    created = await create(gateway, v2)
    await create(gateway, v2)
    await mark_paid(gateway.app[DB], created["trade_no"], actor="test", reason="paid")
    info = await post(gateway.url + "/api/merchant/info", v2.sign({}))
    assert info["code"] == 0 and v2.verifies(info)
    assert (info["pid"], info["status"], info["orders"], info["order_today"]) == (v2.pid, 1, 1, 1)
    assert "key" not in info


async def test_refund_is_refused_as_not_supported_and_writes_nothing(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    created = await create(gateway, v2)
    await mark_paid(gateway.app[DB], created["trade_no"], actor="test", reason="paid")
    fields = v2.sign({"trade_no": created["trade_no"], "money": "10.00", "out_refund_no": "R1"})
    answer = await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/refund", fields), "不支持退款")
    assert "服务商" in answer["msg"]


async def test_a_replayed_request_is_refused_here_after_a_restart_and_by_a_second_process(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    fields = v2.sign(create_fields())
    assert (await post(gateway.url + "/api/pay/create", fields))["code"] == 0
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", fields), "重复的请求")
    query = v2.sign({"out_trade_no": fields["out_trade_no"]})
    assert (await post(gateway.url + "/api/pay/query", query))["code"] == 0
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/query", query), "重复的请求")
    # The same signature at another V2 endpoint that takes these fields is a replay too.
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/merchant/info", query), "重复的请求")

    async with running_gateway(gateway.settings) as second:  # another process on the same database
        answer = await post(second.url + "/api/pay/create", fields)
        assert answer["code"] != 0 and "重复的请求" in answer["msg"]


async def test_a_refused_create_does_not_use_up_its_signature(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    first = await create(gateway, v2, out_trade_no="SAME-1", money="3.00")
    assert first["code"] == 0
    changed = v2.sign(create_fields(out_trade_no="SAME-1", money="4.00"))
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", changed), "参数不一致")


@pytest.mark.parametrize("skew", [-301, 301])
async def test_a_timestamp_outside_300_seconds_is_refused(
    gateway: RunningGateway, v2: V2Merchant, code: Code, skew: int
) -> None:
    fields = v2.sign(create_fields(), timestamp=int(time.time()) + skew)
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", fields), "timestamp")


@pytest.mark.parametrize("timestamp", ["", "12345", "1700000000000", "abcdefghij"])
async def test_a_missing_or_malformed_timestamp_is_refused(
    gateway: RunningGateway, v2: V2Merchant, code: Code, timestamp: str
) -> None:
    fields = v2.sign(create_fields()) | {"timestamp": timestamp}
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", fields), "timestamp")


async def test_a_request_signed_with_another_key_or_altered_is_refused(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    stranger = V2Merchant.new(v2.pid, v2.platform_public)
    wrong_key = stranger.sign(create_fields())
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", wrong_key), "签名错误")
    altered = v2.sign(create_fields()) | {"money": "0.01"}
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", altered), "签名错误")
    garbage = v2.sign(create_fields()) | {"sign": "not base64!"}
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", garbage), "签名错误")
    md5_on_v2 = v2.sign_md5(create_fields())
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", md5_on_v2), "sign_type")


async def test_a_merchant_without_an_rsa_key_is_told_to_register_one(
    gateway: RunningGateway, merchant: Merchant, code: Code
) -> None:
    client = V2Merchant.new(merchant.pid, await gateway.app[PLATFORM_KEY].public_key())
    fields = client.sign(create_fields())
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", fields), "RSA 公钥")


async def test_bad_fields_are_refused_in_the_v2_shape(gateway: RunningGateway, v2: V2Merchant, code: Code) -> None:
    for fields, words in (
        (create_fields(money="0"), "金额"),
        (create_fields(type=None), "type"),
        (create_fields(method="app"), "method"),
        (create_fields(notify_url="ftp://x/"), "notify_url"),
    ):
        signed = v2.sign(fields)
        await refused_without_change(gateway, lambda s=signed: post(gateway.url + "/api/pay/create", s), words)  # type: ignore[misc]


async def test_rsa_on_mapi_php_and_submit_php(gateway: RunningGateway, v2: V2Merchant, code: Code) -> None:
    fields = v2.sign(create_fields(method=None))
    answer = await post(gateway.url + "/mapi.php", fields)
    assert answer["code"] == 1 and answer["payurl"].endswith(answer["trade_no"])
    assert v2.verifies(answer)
    assert (await order_row(gateway, answer["trade_no"]))["sign_type"] == "RSA"
    await refused_without_change(gateway, lambda: post(gateway.url + "/mapi.php", fields), "重复的请求")
    submit = v2.sign(create_fields(method=None, clientip=None))
    async with aiohttp.ClientSession() as http, http.get(
        gateway.url + "/submit.php", params=submit, allow_redirects=False
    ) as response:
        assert response.status == 302
        assert (await order_row(gateway, response.headers["Location"].removeprefix("/pay/")))["sign_type"] == "RSA"


async def test_md5_and_rsa_orders_of_one_merchant_side_by_side(
    gateway: RunningGateway, v2: V2Merchant, merchant: Merchant, code: Code
) -> None:
    md5 = await mapi(gateway, merchant, out_trade_no="MIX-1")
    rsa = await create(gateway, v2, out_trade_no="MIX-2")
    assert md5["code"] == 1 and "sign" not in md5
    assert rsa["code"] == 0 and v2.verifies(rsa)
    assert (await order_row(gateway, md5["trade_no"]))["sign_type"] == "MD5"
    assert (await order_row(gateway, rsa["trade_no"]))["sign_type"] == "RSA"
    # Re-using an out_trade_no with the other sign type would change how its notify is signed: refused.
    again = v2.sign(create_fields(out_trade_no="MIX-1"))
    await refused_without_change(gateway, lambda: post(gateway.url + "/api/pay/create", again), "sign_type")


async def test_return_redirect_of_an_rsa_order_is_signed_by_the_platform(
    gateway: RunningGateway, v2: V2Merchant, code: Code
) -> None:
    created = await create(gateway, v2, money="10.00", return_url="https://shop.example/done?from=v2")
    async with gateway.app[DB].transaction() as conn:  # the payer paid 9.97: never shown to the merchant
        await conn.execute("UPDATE orders SET pay_amount_fen = 997 WHERE trade_no = ?", (created["trade_no"],))
    await mark_paid(gateway.app[DB], created["trade_no"], actor="test", reason="paid", provider_trade_no="P-9")
    async with aiohttp.ClientSession() as http, http.get(
        f"{gateway.url}/pay/{created['trade_no']}/status"
    ) as response:
        document = await response.json()
    url = urlsplit(document["redirect_url"])
    assert (url.netloc, url.path) == ("shop.example", "/done")
    params = dict(parse_qsl(url.query))
    assert params.pop("from") == "v2"
    assert v2.verifies(params)
    assert (params["money"], params["trade_status"], params["api_trade_no"]) == ("10.00", "TRADE_SUCCESS", "P-9")
    assert params["sign_type"] == "RSA" and params["timestamp"].isdigit()
    assert all(value != "" for value in params.values())


@pytest.mark.parametrize("sign_type", ["MD5", "RSA"])
async def test_signed_api_php_queries(
    gateway: RunningGateway, v2: V2Merchant, code: Code, sign_type: str
) -> None:
    created = await mapi(gateway, Merchant(v2.pid, "", v2.md5_key, True), out_trade_no="API-1", money="2.00")

    def signed(params: dict[str, str], **kwargs: Any) -> dict[str, str]:
        return v2.sign(params, **kwargs) if sign_type == "RSA" else v2.sign_md5(params, **kwargs)

    url = gateway.url + "/api.php"
    order = await get(url, signed({"act": "order", "out_trade_no": "API-1"}))
    assert order["code"] == 1 and (order["trade_no"], order["money"]) == (created["trade_no"], "2.00")
    listed = await get(url, signed({"act": "orders", "limit": "100", "offset": "0"}))
    assert listed["code"] == 1 and [o["trade_no"] for o in listed["data"]] == [created["trade_no"]]
    info = await get(url, signed({"act": "query"}))
    assert info["code"] == 1 and info["pid"] == v2.pid

    replay = signed({"act": "query"}, timestamp=int(time.time()) - 2)  # not the signature used just above
    assert (await get(url, replay))["code"] == 1
    assert (await refused_without_change(gateway, lambda: get(url, replay), "重复的请求"))["code"] == -2
    stale = signed({"act": "query"}, timestamp=int(time.time()) - 400)
    assert (await refused_without_change(gateway, lambda: get(url, stale), "timestamp"))["code"] == -2
    forged = signed({"act": "query"}) | {"act": "orders"}
    assert (await refused_without_change(gateway, lambda: get(url, forged), "签名错误"))["code"] == -2
    # The plain key in the URL still works.
    plain = await get(url, {"act": "query", "pid": str(v2.pid), "key": v2.md5_key})
    assert plain["code"] == 1


async def test_a_restarted_gateway_keeps_its_platform_key(settings: Any, tmp_path: Path) -> None:
    async with running_gateway(settings) as first:
        public = await first.app[PLATFORM_KEY].public_key()
        stored = await first.app[DB].fetchone("SELECT private_enc, public_key FROM platform_keys")
        assert stored is not None
        assert stored["public_key"] == public and "PRIVATE" not in stored["private_enc"]  # encrypted at rest
        created_at = await first.app[DB].fetchval("SELECT created_at FROM platform_keys")
        assert created_at <= now_ms()
    async with running_gateway(settings) as second:
        assert await second.app[PLATFORM_KEY].public_key() == public


def test_the_client_verifier_refuses_unsigned_answers() -> None:
    assert not platform_verifies({"code": 0}, "")
