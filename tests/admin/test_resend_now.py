"""重发通知 sends at once: the merchant site gets the notify without waiting for the worker's next idle check."""

from __future__ import annotations

import pytest

from agent.appkeys import DB
from agent.merchants import Merchant
from agent.money import format_yuan
from agent.notify import worker
from tests.admin.conftest import Console
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.merchant_site import serve_merchant_site

IDLE_CHECK_S = 120.0


@pytest.fixture
def sleepy_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle notify worker that looks again only after two minutes (set before the gateway starts).

    With the default one-second idle check a queued-but-not-woken resend would still arrive soon, so
    only a long idle time tells "sent at once" from "sent at the next check".
    """
    monkeypatch.setattr(worker, "IDLE_CHECK_S", IDLE_CHECK_S)


async def test_resend_reaches_the_merchant_at_once(sleepy_worker: None, console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    async with serve_merchant_site(merchant.key) as site:
        order = await insert_order(app, merchant, await add_code(app), status="paid", notify_url=site.url)
        site.expect(order.out_trade_no, format_yuan(order.money_fen))
        async with app[DB].transaction() as conn:  # notified long ago; nothing is due
            await conn.execute(
                "INSERT INTO notify_jobs (trade_no, status, attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (?, 'acked', 1, 0, 0, 0)", (order.trade_no,),
            )
        await console.open(f"/orders/{order.trade_no}")
        await console.page.click("#resend")
        await eventually(lambda: site.acknowledged, within=IDLE_CHECK_S / 10)
    assert await app[DB].fetchval("SELECT action FROM audit_log WHERE target = ?", (order.trade_no,)) == "notify.resend"
