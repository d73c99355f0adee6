"""Notifies as a real merchant site receives them: signature, money, retries, restarts, resend, concurrency."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from agent import epay
from agent.appkeys import DB, MERCHANTS
from agent.db import Database
from agent.matching import OrderStateError, mark_paid
from agent.merchants import Merchant
from agent.money import format_yuan
from agent.notify import NOTIFIER, requeue
from agent.orders import Order
from agent.settings import Settings
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.merchant_site import MerchantSite, Reply, serve_merchant_site


async def pay(gateway: RunningGateway, merchant: Merchant, site: MerchantSite, **order: Any) -> Order:
    """An order the merchant site knows, confirmed by hand, with the notifier woken as after a match."""
    code = await add_code(gateway.app)
    order.setdefault("notify_url", site.url)
    placed = await insert_order(gateway.app, merchant, code, **order)
    site.expect(placed.out_trade_no, format_yuan(placed.money_fen))
    await mark_paid(gateway.app[DB], placed.trade_no, actor="test", reason="paid")
    gateway.app[NOTIFIER].wake()
    return placed


async def job(db: Database, trade_no: str) -> tuple[str, int]:
    row = await db.fetchone("SELECT status, attempts FROM notify_jobs WHERE trade_no = ?", (trade_no,))
    assert row is not None
    return row[0], row[1]


async def attempts(db: Database, trade_no: str) -> list[tuple[Any, ...]]:
    rows = await db.fetchall(
        "SELECT outcome, http_status, body_excerpt, url FROM notify_attempts WHERE trade_no = ? ORDER BY id",
        (trade_no,),
    )
    return [tuple(row) for row in rows]


async def test_notify_carries_the_original_money_and_verifies_like_v2board(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    async with serve_merchant_site(merchant.key) as site:
        order = await pay(gateway, merchant, site, money_fen=1000, pay_amount_fen=997)
        await eventually(lambda: _status_is(gateway.app[DB], order.trade_no, "acked"))

    params = site.received[0].params
    assert params["money"] == "10.00"  # never the payable 9.97
    assert params["trade_no"] == order.trade_no and params["out_trade_no"] == order.out_trade_no
    assert params["trade_status"] == "TRADE_SUCCESS" and params["sign_type"] == "MD5"
    assert "param" not in params  # an empty param would break v2board's signature check
    assert all(value != "" for value in params.values())
    db = gateway.app[DB]
    assert await job(db, order.trade_no) == ("acked", 1)
    [(outcome, status, body, url)] = await attempts(db, order.trade_no)
    assert (outcome, status, body) == ("acked", 200, "success")
    assert url.startswith(site.url + "?")


async def test_param_and_spaces_survive_the_signature(gateway: RunningGateway, merchant: Merchant) -> None:
    async with serve_merchant_site(merchant.key) as site:
        await pay(gateway, merchant, site, param="uid=7&x y+z", name="会员 月卡")
        received = await eventually(lambda: site.acknowledged)
    assert received[0].params["param"] == "uid=7&x y+z"
    assert received[0].params["name"] == "会员 月卡"


async def test_an_existing_query_is_extended_with_an_ampersand(gateway: RunningGateway, merchant: Merchant) -> None:
    async with serve_merchant_site(merchant.key) as site:
        order = await pay(gateway, merchant, site, notify_url=site.url + "?from=epay")
        received = await eventually(lambda: site.received)
    url = (await attempts(gateway.app[DB], order.trade_no))[0][3]
    assert url.startswith(site.url + "?from=epay&pid=")
    params = dict(received[0].params)
    assert params.pop("from") == "epay"
    assert epay.verify(params, merchant.key)  # the merchant's own query stays outside the signature


async def test_failures_are_retried_on_the_schedule_then_the_job_fails(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    async with serve_merchant_site(merchant.key) as site:
        site.script(*[Reply(body="fail")] * 10)
        order = await pay(gateway, merchant, site)
        await eventually(lambda: _status_is(db, order.trade_no, "failed"), within=15)
    schedule = gateway.settings.notify_schedule
    assert len(site.received) == len(schedule) + 1
    times = [r.at for r in site.received]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    for gap, delay in zip(gaps, schedule, strict=True):
        assert delay <= gap < delay + 0.9
    assert [a[0] for a in await attempts(db, order.trade_no)] == ["rejected"] * len(site.received)
    assert await job(db, order.trade_no) == ("failed", len(schedule) + 1)
    assert await db.fetchval("SELECT last_error FROM notify_jobs") == "HTTP 200: fail"


async def test_errors_timeouts_and_wrong_bodies_are_retried_until_acknowledged(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    async with serve_merchant_site(merchant.key) as site:
        site.script(Reply(status=500, body="Internal Server Error"), Reply(delay=1.5), Reply(body="ok"),
                    Reply(body=" \ufeffSUCCESS\r\n"))
        order = await pay(gateway, merchant, site)
        await eventually(lambda: _status_is(db, order.trade_no, "acked"), within=15)
    outcomes = [(a[0], a[1], a[2]) for a in await attempts(db, order.trade_no)]
    assert outcomes == [
        ("rejected", 500, "Internal Server Error"),
        ("error", None, ""),  # the 0.5 s timeout
        ("rejected", 200, "ok"),
        ("acked", 200, " \ufeffSUCCESS\r\n"),
    ]


async def _status_is(db: Database, trade_no: str, status: str) -> bool:
    return (await job(db, trade_no))[0] == status


async def test_the_excerpt_of_a_long_answer_is_cut_to_200_characters(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    async with serve_merchant_site(merchant.key) as site:
        site.script(Reply(body="错" * 5000))
        order = await pay(gateway, merchant, site)
        await eventually(lambda: _status_is(db, order.trade_no, "acked"))
    first = (await attempts(db, order.trade_no))[0]
    assert first[0] == "rejected" and first[2] == "错" * 200


async def test_a_notify_survives_a_restart_mid_schedule(settings: Settings) -> None:
    settings = settings.model_copy(update={"notify_schedule": (2, 2)})
    async with running_gateway(settings) as first:
        merchant = await first.app[MERCHANTS].create("重启商户")
    async with serve_merchant_site(merchant.key) as site:
        async with running_gateway(settings) as first:
            site.script(Reply(status=502, body="bad gateway"))
            order = await pay(first, merchant, site)
            await eventually(lambda: attempts(first.app[DB], order.trade_no))
        assert len(site.received) == 1  # stopped while waiting for the retry

        async with running_gateway(settings) as second:
            await eventually(lambda: _status_is(second.app[DB], order.trade_no, "acked"), within=10)
            assert await job(second.app[DB], order.trade_no) == ("acked", 2)
            assert len(site.acknowledged) == 1


async def test_a_send_cut_short_by_shutdown_is_sent_again_at_the_next_start(settings: Settings) -> None:
    async with running_gateway(settings) as first:
        merchant = await first.app[MERCHANTS].create("慢商户")
    async with serve_merchant_site(merchant.key) as site:
        async with running_gateway(settings.model_copy(update={"notify_timeout_seconds": 30.0})) as first:
            site.script(Reply(delay=20))
            order = await pay(first, merchant, site)
            await eventually(lambda: site.received)
        lease = await _lease(settings, order.trade_no)
        assert lease == 0  # given back, so the next start need not wait for the lease to run out

        async with running_gateway(settings) as second:
            await eventually(lambda: _status_is(second.app[DB], order.trade_no, "acked"), within=5)
            assert await job(second.app[DB], order.trade_no) == ("acked", 1)


async def _lease(settings: Settings, trade_no: str) -> int:
    async with Database(settings.database_path) as db:
        return int(await db.fetchval("SELECT lease_until FROM notify_jobs WHERE trade_no = ?", (trade_no,)))


async def test_resend_requeues_an_acknowledged_notify_and_is_audited(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    db = gateway.app[DB]
    async with serve_merchant_site(merchant.key) as site:
        order = await pay(gateway, merchant, site)
        await eventually(lambda: site.acknowledged)
        await gateway.app[NOTIFIER].resend(order.trade_no, actor="cli")
        await eventually(lambda: len(site.acknowledged) == 2)
        await eventually(lambda: _status_is(db, order.trade_no, "acked"))
    assert await job(db, order.trade_no) == ("acked", 1)
    audit = await db.fetchone("SELECT actor, action, target FROM audit_log WHERE action = 'notify.resend'")
    assert audit is not None and tuple(audit) == ("cli", "notify.resend", order.trade_no)
    assert len(await attempts(db, order.trade_no)) == 2


async def test_resend_refuses_unpaid_orders(gateway: RunningGateway, merchant: Merchant) -> None:
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code)
    with pytest.raises(OrderStateError, match="当前为待支付，只有已支付的订单会发送通知"):
        await requeue(gateway.app[DB], order.trade_no, actor="cli")
    with pytest.raises(OrderStateError, match="订单 NOPE 不存在"):
        await requeue(gateway.app[DB], "NOPE", actor="cli")
    assert await gateway.app[DB].fetchval("SELECT count(*) FROM notify_jobs") == 0


async def test_concurrency_is_bounded(settings: Settings) -> None:
    async with running_gateway(settings.model_copy(update={"notify_concurrency": 3, "notify_timeout_seconds": 5.0})) as gateway:
        merchant = await gateway.app[MERCHANTS].create("并发商户")
        async with serve_merchant_site(merchant.key) as site:
            site.script(*[Reply(delay=1.0)] * 9)
            for _ in range(9):
                await pay(gateway, merchant, site)
            await eventually(lambda: len(site.acknowledged) == 9, within=15)
    assert site.most_in_flight == 3
