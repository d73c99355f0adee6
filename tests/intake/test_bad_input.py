"""Every refused request answers in the protocol's shape with a Chinese message and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from agent import epay
from agent.appkeys import DB
from agent.codes import Code
from agent.merchants import Merchant
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi, order_fields, post_form
from tests.support.gateway import RunningGateway

SIGNED_FIELD_CASES: dict[str, tuple[dict[str, str | None], str]] = {
    "unknown pid": ({"pid": "999999"}, "商户不存在"),
    "non-integer pid": ({"pid": "12a"}, "pid"),
    "negative pid": ({"pid": "-1"}, "pid"),
    "missing pid": ({"pid": None}, "pid"),
    "money zero": ({"money": "0"}, "金额"),
    "money zero with decimals": ({"money": "0.00"}, "金额"),
    "money negative": ({"money": "-1.00"}, "金额"),
    "money non-numeric": ({"money": "abc"}, "金额"),
    "money exponent": ({"money": "1e3"}, "金额"),
    "money three decimals": ({"money": "1.234"}, "金额"),
    "money absurdly large": ({"money": "99999999999"}, "金额"),
    "money just over the maximum": ({"money": "1000000.01"}, "金额"),
    "money missing": ({"money": None}, "money"),
    "out_trade_no with a space": ({"out_trade_no": "a b"}, "out_trade_no"),
    "out_trade_no with Chinese": ({"out_trade_no": "订单1"}, "out_trade_no"),
    "out_trade_no with a semicolon": ({"out_trade_no": "a;b"}, "out_trade_no"),
    "out_trade_no of 65 characters": ({"out_trade_no": "x" * 65}, "out_trade_no"),
    "out_trade_no missing": ({"out_trade_no": None}, "out_trade_no"),
    "notify_url missing": ({"notify_url": None}, "notify_url"),
    "notify_url ftp": ({"notify_url": "ftp://127.0.0.1/n"}, "notify_url"),
    "notify_url javascript": ({"notify_url": "javascript:alert(1)"}, "notify_url"),
    "notify_url without host": ({"notify_url": "http://"}, "notify_url"),
    "notify_url with a space": ({"notify_url": "http://127.0.0.1/a b"}, "notify_url"),
    "notify_url too long": ({"notify_url": "http://127.0.0.1/" + "a" * 1100}, "notify_url"),
    "notify_url at the cloud metadata service": ({"notify_url": "http://169.254.169.254/latest/meta-data"}, "元数据"),
    "notify_url at IPv6 link-local": ({"notify_url": "http://[fe80::1]/n"}, "元数据"),
    "notify_url at metadata, IPv4-mapped": ({"notify_url": "http://[::ffff:169.254.169.254]/n"}, "元数据"),
    "notify_url at AWS IPv6 metadata": ({"notify_url": "http://[fd00:ec2::254]/n"}, "元数据"),
    "return_url not http": ({"return_url": "ftp://127.0.0.1/r"}, "return_url"),
    "unknown type": ({"type": "paypal"}, "type"),
    "type missing on mapi": ({"type": None}, "type"),
    "clientip missing on mapi": ({"clientip": None}, "clientip"),
    "clientip too long": ({"clientip": "1" * 65}, "clientip"),
    "param too long": ({"param": "p" * 1025}, "param"),
    "sitename too long": ({"sitename": "站" * 65}, "sitename"),
    "device malformed": ({"device": "PC<script>"}, "device"),
    "name missing": ({"name": None}, "name"),
    "name blank": ({"name": "   "}, "name"),
    "sign_type SHA1": ({"sign_type": "SHA1"}, "sign_type"),
    "sign_type RSA without an RSA key": ({"sign_type": "RSA"}, "timestamp"),
}


@pytest.fixture
async def before(gateway: RunningGateway, merchant: Merchant, code: Code) -> list[object]:
    await mapi(gateway, merchant)  # an existing order, so "unchanged" covers more than an empty table
    return await snapshot(gateway)


def _refused(answer: dict[str, object], hint: str) -> None:
    assert answer["code"] == -1, answer
    assert isinstance(answer["msg"], str) and hint in answer["msg"], answer
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer["msg"]), "message must be Chinese"


@pytest.mark.parametrize("case", list(SIGNED_FIELD_CASES))
async def test_mapi_refuses_bad_fields(
    gateway: RunningGateway, merchant: Merchant, before: list[object], case: str
) -> None:
    fields, hint = SIGNED_FIELD_CASES[case]
    _refused(await mapi(gateway, merchant, **fields), hint)
    assert await snapshot(gateway) == before


SIGNATURE_CASES: dict[str, Callable[[dict[str, str]], object]] = {
    "wrong sign": lambda f: f.update(sign="0" * 32),
    "missing sign": lambda f: f.pop("sign"),
    "empty sign": lambda f: f.update(sign=""),
    "field changed after signing": lambda f: f.update(money="0.01"),
    "field added after signing": lambda f: f.update(extra="1"),
}


@pytest.mark.parametrize("case", list(SIGNATURE_CASES))
async def test_mapi_refuses_bad_signatures(
    gateway: RunningGateway, merchant: Merchant, before: list[object], case: str
) -> None:
    fields = order_fields(merchant)
    SIGNATURE_CASES[case](fields)
    _refused(await post_form(gateway, "/mapi.php", fields), "签名")
    assert await snapshot(gateway) == before


async def test_a_key_of_another_merchant_does_not_sign(
    gateway: RunningGateway, merchant: Merchant, before: list[object]
) -> None:
    from agent.appkeys import MERCHANTS

    other = await gateway.app[MERCHANTS].create("另一个商户")
    fields = order_fields(merchant)
    fields["sign"] = epay.sign(fields, other.key)
    _refused(await post_form(gateway, "/mapi.php", fields), "签名")
    assert await snapshot(gateway) == before


async def test_disabled_merchant_is_refused(gateway: RunningGateway, code: Code) -> None:
    from agent.appkeys import MERCHANTS

    book = gateway.app[MERCHANTS]
    merchant = await book.create("停用商户")
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE merchants SET enabled = 0 WHERE pid = ?", (merchant.pid,))
    before = await snapshot(gateway)
    _refused(await mapi(gateway, merchant), "禁用")
    assert await snapshot(gateway) == before


MALFORMED_BODIES: dict[str, tuple[bytes, str]] = {
    "not utf-8": (b"pid=1&name=\xff\xfe&money=1", "application/x-www-form-urlencoded"),
    "json instead of a form": (b'{"pid": "1", "money": "1"}', "application/json"),
    "garbage": (b"\x00\x01\x02%%%&&==", "application/x-www-form-urlencoded"),
    "broken multipart": (b"--x\r\nnonsense", "multipart/form-data; boundary=x"),
}


@pytest.mark.parametrize("case", list(MALFORMED_BODIES))
async def test_malformed_bodies_get_a_clean_error(
    gateway: RunningGateway, before: list[object], case: str
) -> None:
    body, content_type = MALFORMED_BODIES[case]
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/mapi.php", data=body, headers={"Content-Type": content_type}
    ) as response:
        assert response.status < 500
        answer = await response.json(content_type=None)
    assert answer["code"] == -1 and answer["msg"]
    assert await snapshot(gateway) == before


async def test_repeated_fields_and_file_uploads_are_refused(
    gateway: RunningGateway, merchant: Merchant, before: list[object]
) -> None:
    fields = order_fields(merchant)
    repeated = "&".join(f"{k}={v}" for k, v in fields.items()) + "&money=1.00"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            gateway.url + "/mapi.php", data=repeated.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            _refused(await response.json(), "重复")
        form = aiohttp.FormData(fields)
        form.add_field("param", b"binary", filename="x.bin")
        async with http.post(gateway.url + "/mapi.php", data=form) as response:
            _refused(await response.json(), "param")
    assert await snapshot(gateway) == before


async def test_wrong_method_answers_in_protocol_shape(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http, http.put(gateway.url + "/mapi.php") as response:
        assert response.status == 405
        answer = await response.json()
    assert answer["code"] == -1 and answer["msg"]


@pytest.mark.parametrize(
    "fields, hint",
    [({"return_url": None}, "return_url"), ({"money": "1.234"}, "金额"), ({"sign": "bad"}, "签名")],
)
async def test_submit_refusals_are_a_chinese_error_page(
    gateway: RunningGateway, merchant: Merchant, before: list[object], fields: dict[str, str | None], hint: str
) -> None:
    signed = order_fields(merchant, clientip=None, **{k: v for k, v in fields.items() if k != "sign"})
    if "sign" in fields:
        signed["sign"] = str(fields["sign"])
    if fields.get("return_url", "") is None:
        signed = order_fields(merchant, clientip=None, return_url=None)
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/submit.php", data=signed, allow_redirects=False
    ) as response:
        assert response.status == 400
        assert response.content_type == "text/html"
        page = await response.text()
    assert "下单失败" in page and hint in page
    assert await snapshot(gateway) == before


async def test_submit_escapes_what_it_echoes(gateway: RunningGateway, before: list[object]) -> None:
    async with aiohttp.ClientSession() as http, http.get(
        gateway.url + "/submit.php", params={"pid": "1", "<script>": "x", "<script>x": "y"}
    ) as response:
        page = await response.text()
    assert response.status == 400 and "<script>" not in page


async def test_a_notify_url_at_the_gateway_itself_is_refused_when_the_order_is_placed(
    gateway: RunningGateway, merchant: Merchant, before: list[object]
) -> None:
    _refused(await mapi(gateway, merchant, notify_url=gateway.url + "/mapi.php"), "本网关")
    assert await snapshot(gateway) == before


@pytest.mark.parametrize("settings_overrides", [{"notify_allow_private": False}])
async def test_private_notify_urls_are_refused_at_once_when_private_notifies_are_off(
    gateway: RunningGateway, merchant: Merchant, code: Code, settings_overrides: dict[str, object]
) -> None:
    before = await snapshot(gateway)
    for url in ("http://10.1.2.3/n", "http://127.0.0.1:9/n", "http://[::1]/n"):
        _refused(await mapi(gateway, merchant, notify_url=url), "内网")
    assert await snapshot(gateway) == before
    # a name is judged on what it resolves to when a notify is sent, not here
    assert (await mapi(gateway, merchant, notify_url="http://shop.example/notify"))["code"] == 1
