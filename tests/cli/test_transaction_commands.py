"""``mapay transaction``: a deployer reviews unmatched provider payments next to a running gateway."""

from __future__ import annotations

from agent.appkeys import DB
from agent.db import now_ms
from agent.matching import record_transactions
from agent.merchants import Merchant
from agent.money import format_yuan
from tests.cli.test_order_commands import env, mapay, mapay_json
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway
from tests.support.memory_provider import transaction
from tests.support.merchant_site import serve_merchant_site

__all__ = ["env"]  # the fixture, shared with the order command tests


async def _unmatched(gateway: RunningGateway, account_id: int, *amounts_fen: int) -> list[int]:
    """Record payments nobody matched; returns their ids in the given order."""
    payments = [transaction(amount, now_ms() - i) for i, amount in enumerate(amounts_fen)]
    db = gateway.app[DB]
    await record_transactions(db, account_id, payments)
    return [
        await db.fetchval("SELECT id FROM provider_transactions WHERE provider_trade_no = ?", (p.trade_no,))
        for p in payments
    ]


async def test_list_shows_unmatched_payments_and_filters_by_status(
    gateway: RunningGateway, env: dict[str, str]
) -> None:
    code = await add_code(gateway.app)
    first, second = await _unmatched(gateway, code.account_id, 4990, 100)
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE provider_transactions SET status = 'dismissed' WHERE id = ?", (second,))
    listed = await mapay_json(env, "transaction", "list", "--status", "unmatched")
    assert [(t["id"], t["amount"], t["status"]) for t in listed] == [(first, "49.90", "unmatched")]
    assert {t["id"] for t in await mapay_json(env, "transaction", "list")} == {first, second}
    assert (await mapay(env, "transaction", "list", "--status", "lost", ok=False)).returncode == 2


async def test_dismiss_needs_a_reason_is_audited_and_refuses_twice(
    gateway: RunningGateway, env: dict[str, str]
) -> None:
    code = await add_code(gateway.app)
    (stray,) = await _unmatched(gateway, code.account_id, 100)
    assert (await mapay(env, "transaction", "dismiss", str(stray), ok=False)).returncode == 2  # --reason missing
    dismissed = await mapay_json(env, "transaction", "dismiss", str(stray), "--reason", "店员测试扫码")
    assert dismissed["status"] == "dismissed" and dismissed["order_trade_no"] is None
    audit = await gateway.app[DB].fetchone("SELECT actor, action, detail FROM audit_log WHERE target = ?", (str(stray),))
    assert audit is not None and (audit["actor"], audit["action"]) == ("cli", "transaction.dismiss")
    assert "店员测试扫码" in audit["detail"]

    again = await mapay(env, "transaction", "dismiss", str(stray), "--reason", "x", ok=False)
    assert again.returncode == 1 and "当前为已忽略，只有未匹配的流水可以忽略" in again.stderr
    unknown = await mapay(env, "transaction", "dismiss", "999", "--reason", "x", ok=False)
    assert unknown.returncode == 1 and "收款流水 999 不存在" in unknown.stderr
    assert await gateway.app[DB].fetchval("SELECT count(*) FROM audit_log") == 1


async def test_attach_pays_the_order_and_the_running_server_notifies(
    gateway: RunningGateway, env: dict[str, str], merchant: Merchant
) -> None:
    code = await add_code(gateway.app)
    db = gateway.app[DB]
    async with serve_merchant_site(merchant.key) as site:
        order = await insert_order(gateway.app, merchant, code, money_fen=5000, status="expired", notify_url=site.url)
        site.expect(order.out_trade_no, format_yuan(order.money_fen))
        (wrong,) = await _unmatched(gateway, code.account_id, 4990)  # the payer typed a different amount
        assert (await mapay(env, "transaction", "attach", str(wrong), order.trade_no, ok=False)).returncode == 2
        attached = await mapay_json(env, "transaction", "attach", str(wrong), order.trade_no, "--reason", "金额输错")
        assert (attached["status"], attached["order_trade_no"]) == ("matched", order.trade_no)
        await eventually(lambda: site.acknowledged)  # the server's worker picked the CLI's notify up
    assert site.acknowledged[0].params["money"] == "50.00"  # the order's own money, not what was paid
    assert await db.fetchval("SELECT status FROM orders WHERE trade_no = ?", (order.trade_no,)) == "paid"

    refused = await mapay(env, "transaction", "attach", str(wrong), order.trade_no, "--reason", "x", ok=False)
    assert refused.returncode == 1 and "当前为已支付" in refused.stderr
    assert (await mapay(env, "transaction", "dismiss", str(wrong), "--reason", "x", ok=False)).returncode == 1
    assert await db.fetchval("SELECT status FROM provider_transactions WHERE id = ?", (wrong,)) == "matched"
