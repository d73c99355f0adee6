"""The merchants page for epay V2: the platform public key to copy, a merchant RSA key pasted, refused or cleared."""

from __future__ import annotations

import html
import re

import aiohttp

from agent.appkeys import DB, MERCHANTS
from agent.merchants import Merchant
from agent.platform_key import PLATFORM_KEY
from tests.support.admin_http import AdminSession, admin_session
from tests.support.epay_v2_client import V2Merchant
from tests.support.gateway import RunningGateway


async def _post(gateway: RunningGateway, admin: AdminSession, fields: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(
        gateway.url + "/admin/merchants/rsa-key", data={"_csrf": admin.csrf, **fields},
        headers={"Cookie": admin.cookie}, allow_redirects=False,
    ) as response:
        return response.status, html.unescape(await response.text())


async def test_the_page_shows_the_platform_key_and_takes_a_merchant_key_with_or_without_armour(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    admin = await admin_session(gateway)
    async with aiohttp.ClientSession() as http, http.get(
        gateway.url + "/admin/merchants", headers={"Cookie": admin.cookie}
    ) as response:
        page = await response.text()
    platform = await gateway.app[PLATFORM_KEY].public_key()
    shown = re.search(r'<code id="platform-public-key"[^>]*>([^<]+)</code>', page)
    assert shown is not None and shown.group(1) == platform

    client = V2Merchant.new(merchant.pid, platform)
    status, page = await _post(gateway, admin, {"pid": str(merchant.pid), "public_key": client.public_pem})
    assert status == 200 and "已保存商户" in page and 'data-rsa-pid="1"' in page and "MD5 + RSA" in page
    assert (await gateway.app[MERCHANTS].get(merchant.pid)).rsa_public_key == client.public_body  # type: ignore[union-attr]
    other = V2Merchant.new(merchant.pid, platform)
    status, page = await _post(gateway, admin, {"pid": str(merchant.pid), "public_key": other.public_body})
    assert status == 200
    assert (await gateway.app[MERCHANTS].get(merchant.pid)).rsa_public_key == other.public_body  # type: ignore[union-attr]

    status, page = await _post(gateway, admin, {"pid": str(merchant.pid), "clear": "1"})
    assert status == 200 and "已清除" in page
    assert (await gateway.app[MERCHANTS].get(merchant.pid)).rsa_key is None  # type: ignore[union-attr]
    audits = await gateway.app[DB].fetchall("SELECT action FROM audit_log WHERE action = 'merchant.set_rsa_key'")
    assert len(audits) == 3


async def test_a_bad_key_is_shown_at_the_field_and_changes_nothing(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    admin = await admin_session(gateway)
    for text, words in (("hello", "公钥格式错误"), ("", "请粘贴"), ("-----BEGIN PRIVATE KEY-----\nAA\n", "私钥")):
        status, page = await _post(gateway, admin, {"pid": str(merchant.pid), "public_key": text})
        assert status == 400 and 'data-error-for="public_key"' in page and words in page, page
    assert (await gateway.app[MERCHANTS].get(merchant.pid)).rsa_key is None  # type: ignore[union-attr]
    status, _ = await _post(gateway, admin, {"pid": "999", "public_key": V2Merchant.new(1, "").public_pem})
    assert status == 404
