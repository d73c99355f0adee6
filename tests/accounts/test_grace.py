"""A transiently failing account keeps taking orders for the degraded grace, after every healthy account;
when no account can take one, the merchant hears why, in Chinese, through mapi.php."""

from __future__ import annotations

import asyncio

from agent.accounts import classify
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS
from agent.db import now_ms
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from agent.providers.base import AuthFailed, HealthState, NeedsHuman, TransientError
from agent.settings import Settings
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.factories import add_code
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice

GRACE_S = 1.5


async def _account_of(gateway: RunningGateway, answer: dict[str, object]) -> int:
    assert answer["code"] == 1, answer
    return int(await gateway.app[DB].fetchval("SELECT account_id FROM orders WHERE trade_no = ?", (answer["trade_no"],)))


async def _epoch(gateway: RunningGateway) -> int:
    return int(await gateway.app[DB].fetchval("SELECT epoch FROM allocation_epoch"))


async def test_a_degraded_account_takes_orders_after_healthy_ones_within_its_grace_and_none_after(
    settings: Settings,
) -> None:
    # One slot per price and scope, and no poller that could heal the account meanwhile.
    unpolled = settings.model_copy(update={"offset_max_fen": 0, "degraded_grace_seconds": GRACE_S})
    async with running_gateway(unpolled) as gateway:
        merchant = await gateway.app[MERCHANTS].create("宽限")
        healthy = (await add_code(gateway.app)).account_id
        degraded = (await add_code(gateway.app)).account_id
        await gateway.app[ACCOUNTS].record_failure(degraded, classify(TransientError("HTTP 502")))
        grace_ends = now_ms() + GRACE_S * 1000

        assert await _account_of(gateway, await mapi(gateway, merchant, money="1.00")) == healthy
        assert await _account_of(gateway, await mapi(gateway, merchant, money="1.00")) == degraded
        assert await _account_of(gateway, await mapi(gateway, merchant, money="2.00")) == healthy  # healthy first
        epoch = await _epoch(gateway)

        await asyncio.sleep(max(0.0, (grace_ends - now_ms()) / 1000) + 0.1)
        assert await _epoch(gateway) == epoch  # nothing was written: the kept pool view must see the time
        late = await mapi(gateway, merchant, money="2.00")
        assert late == {"code": -1, "msg": "该金额的可用收款名额已满，请稍后再试或更换金额"}
        assert await _account_of(gateway, await mapi(gateway, merchant, money="3.00")) == healthy

        await gateway.app[ACCOUNTS].set_account_enabled(healthy, False)  # a write: the view is read afresh
        refused = await mapi(gateway, merchant, money="4.00")
    assert refused == {"code": -1, "msg": "所有收款账号暂不可用：测试门店（收钱吧）已停用；测试门店（收钱吧）无法连接服务商后台"}


async def test_the_merchant_hears_why_no_account_can_take_an_order(gateway: RunningGateway, merchant: Merchant) -> None:
    assert await mapi(gateway, merchant) == {"code": -1, "msg": "暂无可用的收款码，请稍后再试"}
    accounts = gateway.app[ACCOUNTS]
    refused = await accounts.add_account("shouqianba", "门店一", "u1", "pw")
    waiting = await accounts.add_account("shengpay", "门店二", "u2", "pw")
    for account in (refused, waiting):
        await gateway.app[CODES].add_code(account.id, payload=f"https://qr.example/{account.id}", terminal_id="T1")
    await accounts.record_failure(refused.id, classify(AuthFailed("密码错误")))
    await accounts.record_failure(waiting.id, classify(NeedsHuman("等待短信验证码")))
    answer = await mapi(gateway, merchant)
    assert answer == {"code": -1, "msg": "所有收款账号暂不可用：门店一（收钱吧）登录被拒绝，请检查密码；门店二（盛付通）需要短信验证码"}


async def test_an_order_taken_while_failing_is_confirmed_once_the_account_recovers(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_fetch(code.account_id, *[TransientError("HTTP 502")] * 10)
    first = await mapi(gateway, merchant, money="5.00")
    await eventually(lambda: _health_is(gateway, code.account_id, HealthState.DEGRADED))
    during = await mapi(gateway, merchant, money="6.00")  # degraded, within the grace: still taken
    assert await _account_of(gateway, during) == code.account_id
    order = await get_order(gateway.app[DB], str(during["trade_no"]))
    assert order is not None
    office.pay(code.account_id, order.pay_amount_fen, terminal_id=code.terminal_id)  # paid while failing
    assert await _health_is(gateway, code.account_id, HealthState.DEGRADED)
    await eventually(lambda: _paid(gateway, order.trade_no), within=10)
    assert await _health_is(gateway, code.account_id, HealthState.OK)
    assert first["code"] == 1


async def _health_is(gateway: RunningGateway, account_id: int, expected: HealthState) -> bool:
    return (await gateway.app[ACCOUNTS].account(account_id)).health is expected


async def _paid(gateway: RunningGateway, trade_no: str) -> bool:
    order = await get_order(gateway.app[DB], trade_no)
    return order is not None and order.status is OrderStatus.PAID
