"""Degraded accounts heal by themselves: probed on a doubling schedule until a read succeeds; accounts that
wait for a person are left alone until one asks."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from agent.accounts import classify
from agent.appkeys import ACCOUNTS, DB, MERCHANTS
from agent.providers.base import AuthFailed, HealthState, NeedsHuman, TransientError
from agent.settings import Settings
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice


async def _health(gateway: RunningGateway, account_id: int) -> HealthState:
    return (await gateway.app[ACCOUNTS].account(account_id)).health


async def test_a_degraded_account_without_orders_is_probed_on_a_doubling_schedule_until_it_heals(
    gateway: RunningGateway, office: MemoryBackOffice, settings: Settings
) -> None:
    code = await add_code(gateway.app)
    account_id = code.account_id
    office.fail_fetch(account_id, *[TransientError("HTTP 502")] * 4)
    await gateway.app[ACCOUNTS].record_failure(account_id, classify(TransientError("HTTP 502")))
    await eventually(lambda: _is_ok(gateway, account_id), within=5)
    assert office.fetches[account_id] == 5  # four failed probes, then the one that healed it
    gaps = [b - a for a, b in pairwise(office.fetch_started[account_id])]
    first, cap = settings.probe_backoff_first_seconds, settings.probe_backoff_max_seconds
    expected = [min(first * 2 ** n, cap) for n in range(1, 5)]  # 0.2, 0.4, 0.5 (capped), 0.5
    for gap, wait in zip(gaps, expected, strict=True):
        assert wait * 0.95 <= gap <= wait + 0.3, (gaps, expected)
    account = await gateway.app[ACCOUNTS].account(account_id)
    assert (account.health_reason, account.problem, account.failing_since) == (None, None, None)
    await asyncio.sleep(1.0)
    assert office.fetches[account_id] == 5  # healthy and idle again: no more reads


async def _is_ok(gateway: RunningGateway, account_id: int) -> bool:
    return await _health(gateway, account_id) is HealthState.OK


async def test_when_the_orders_end_a_failing_account_is_probed_after_the_first_backoff(
    settings: Settings
) -> None:
    office = MemoryBackOffice()
    spaced = settings.model_copy(update={"poll_interval_seconds": 2.0, "poll_backoff_max_seconds": 2.0})
    async with running_gateway(spaced, provider_factory=office) as gateway:
        merchant = await gateway.app[MERCHANTS].create("探测")
        code = await add_code(gateway.app)
        office.fail_fetch(code.account_id, TransientError("HTTP 502"), TransientError("HTTP 502"))
        order = await insert_order(gateway.app, merchant, code)
        await eventually(lambda: _health_is(gateway, code.account_id, HealthState.DEGRADED))
        async with gateway.app[DB].transaction() as conn:  # the order ends: a poll would wait 2 s, a probe less
            await conn.execute("UPDATE orders SET status = 'closed' WHERE trade_no = ?", (order.trade_no,))
        await eventually(lambda: _is_ok(gateway, code.account_id), within=3)
    gaps = [b - a for a, b in pairwise(office.fetch_started[code.account_id])]
    first = settings.probe_backoff_first_seconds
    assert len(gaps) == 2 and first * 0.95 <= gaps[0] <= first + 0.3 and 2 * first * 0.95 <= gaps[1] <= 2 * first + 0.3


async def _health_is(gateway: RunningGateway, account_id: int, expected: HealthState) -> bool:
    return await _health(gateway, account_id) is expected


async def test_accounts_waiting_for_a_person_or_disabled_are_never_probed(
    gateway: RunningGateway, office: MemoryBackOffice
) -> None:
    accounts = gateway.app[ACCOUNTS]
    refused, waiting, disabled, degraded = [(await add_code(gateway.app)).account_id for _ in range(4)]
    await accounts.record_failure(refused, classify(AuthFailed("密码错误")))
    await accounts.record_failure(waiting, classify(NeedsHuman("请输入短信验证码")))
    await accounts.record_failure(disabled, classify(TransientError("HTTP 502")))
    await accounts.set_account_enabled(disabled, False)
    async with gateway.app[DB].transaction() as conn:  # disabling keeps the health; make it degraded again
        await conn.execute("UPDATE accounts SET health = 'degraded' WHERE id = ?", (disabled,))
    office.fail_fetch(degraded, *[TransientError("HTTP 502")] * 100)
    await accounts.record_failure(degraded, classify(TransientError("HTTP 502")))
    await eventually(lambda: office.fetches[degraded] >= 4, within=5)
    for account_id in (refused, waiting, disabled):
        assert (office.created[account_id], office.logins[account_id], office.fetches[account_id]) == (0, 0, 0)
    assert await _health(gateway, refused) is HealthState.LOGIN_FAILED
    assert await _health(gateway, waiting) is HealthState.NEEDS_HUMAN


async def test_a_refused_login_is_tried_again_when_a_person_asks(
    gateway: RunningGateway, office: MemoryBackOffice
) -> None:
    account_id = (await add_code(gateway.app)).account_id
    await gateway.app[ACCOUNTS].record_failure(account_id, classify(AuthFailed("密码错误")))
    await asyncio.sleep(0.5)
    assert office.logins[account_id] == 0
    await gateway.app[ACCOUNTS].request_probe(account_id)  # 立即重试, as the console or the CLI writes it
    await eventually(lambda: _is_ok(gateway, account_id), within=3)
    assert office.logins[account_id] == 1 and office.fetches[account_id] == 1
    assert await gateway.app[DB].fetchval(
        "SELECT probe_requested_at FROM accounts WHERE id = ?", (account_id,)) is None  # the request is used up
