"""Notifies of epay V2 (RSA) orders: signed with the platform private key, verified with the platform public key
by a merchant site that also takes the same merchant's MD5 orders."""

from __future__ import annotations

from agent.appkeys import DB
from agent.db import Database
from agent.matching import mark_paid
from agent.merchants import Merchant
from agent.money import format_yuan
from agent.notify import NOTIFIER
from agent.orders import Order
from agent.platform_key import PLATFORM_KEY
from tests.support.epay_v2_client import platform_verifies
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.merchant_site import serve_merchant_site
from tests.support.merchant_site_v2 import V2MerchantSite


async def _placed(gateway: RunningGateway, merchant: Merchant, site: V2MerchantSite, sign_type: str,
                  **order: object) -> Order:
    placed = await insert_order(gateway.app, merchant, await add_code(gateway.app), notify_url=site.url,
                                **order)  # type: ignore[arg-type]
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET sign_type = ? WHERE trade_no = ?", (sign_type, placed.trade_no))
    site.expect(placed.out_trade_no, format_yuan(placed.money_fen))
    return placed


async def _acked(db: Database, trade_no: str) -> bool:
    return await db.fetchval("SELECT status FROM notify_jobs WHERE trade_no = ?", (trade_no,)) == "acked"


async def test_md5_and_rsa_orders_of_one_merchant_are_each_notified_in_their_own_signature(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    platform_public = await gateway.app[PLATFORM_KEY].public_key()
    site = V2MerchantSite(merchant.key, platform_public=platform_public)
    async with serve_merchant_site(merchant.key, site):
        md5 = await _placed(gateway, merchant, site, "MD5", money_fen=1000, pay_amount_fen=998)
        rsa = await _placed(gateway, merchant, site, "RSA", money_fen=2000, pay_amount_fen=1997, param="uid=7&x y")
        db = gateway.app[DB]
        await mark_paid(db, md5.trade_no, actor="test", reason="paid")
        await mark_paid(db, rsa.trade_no, actor="test", reason="paid", provider_trade_no="4200001234")
        gateway.app[NOTIFIER].wake()
        await eventually(lambda: _acked(db, md5.trade_no))
        await eventually(lambda: _acked(db, rsa.trade_no))

    by_trade = {r.params["trade_no"]: r for r in site.received}
    assert [r.problem for r in site.received] == [None, None]
    md5_params, rsa_params = by_trade[md5.trade_no].params, by_trade[rsa.trade_no].params
    assert md5_params["sign_type"] == "MD5" and "timestamp" not in md5_params and "api_trade_no" not in md5_params
    assert rsa_params["sign_type"] == "RSA" and rsa_params["timestamp"].isdigit()
    assert (rsa_params["money"], rsa_params["param"], rsa_params["api_trade_no"]) == ("20.00", "uid=7&x y", "4200001234")
    assert platform_verifies(rsa_params, platform_public)
    assert not platform_verifies(rsa_params | {"money": "19.97"}, platform_public)
    assert all(value != "" for value in rsa_params.values())


async def test_an_rsa_notify_without_a_provider_number_leaves_api_trade_no_out(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    site = V2MerchantSite(merchant.key, platform_public=await gateway.app[PLATFORM_KEY].public_key())
    async with serve_merchant_site(merchant.key, site):
        order = await _placed(gateway, merchant, site, "RSA")
        await mark_paid(gateway.app[DB], order.trade_no, actor="test", reason="paid")
        gateway.app[NOTIFIER].wake()
        await eventually(lambda: site.acknowledged)
    assert "api_trade_no" not in site.received[0].params
