"""Which code takes an order: least recently used, healthy and enabled, within its cap, scope-aware."""

from __future__ import annotations

import asyncio
from collections import Counter

from agent.accounts import classify
from agent.allocation.clock import DAY_MS
from agent.appkeys import ACCOUNTS, CODES, DB
from agent.db import now_ms
from agent.merchants import Merchant
from agent.providers.base import AuthFailed, TransientError
from tests.allocation.pool_setup import add_code, pay_amounts
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi
from tests.support.gateway import RunningGateway


async def _code_of(gateway: RunningGateway, trade_no: str) -> int:
    return int(await gateway.app[DB].fetchval("SELECT code_id FROM orders WHERE trade_no = ?", (trade_no,)))


async def test_codes_rotate_least_recently_used_first(gateway: RunningGateway, merchant: Merchant) -> None:
    codes = [await add_code(gateway, terminal_id=f"T{i}") for i in range(3)]
    used = [await _code_of(gateway, (await mapi(gateway, merchant, money=f"{i + 1}.00"))["trade_no"])
            for i in range(5)]
    ids = [code.id for code in codes]
    assert used == [*ids, *ids[:2]]
    rows = await gateway.app[DB].fetchall("SELECT id, last_used_at FROM codes ORDER BY last_used_at")
    assert [row[0] for row in rows] == [ids[2], ids[0], ids[1]]


async def test_unhealthy_and_disabled_are_skipped(gateway: RunningGateway, merchant: Merchant) -> None:
    pool, accounts = gateway.app[CODES], gateway.app[ACCOUNTS]
    unhealthy, disabled_account, disabled_code, good = [await add_code(gateway, terminal_id="T") for _ in range(4)]
    await accounts.record_failure(unhealthy.account_id, classify(AuthFailed("密码错误")))
    await accounts.set_account_enabled(disabled_account.account_id, False)
    await pool.set_code_enabled(disabled_code.id, False)
    for _ in range(3):
        assert await _code_of(gateway, (await mapi(gateway, merchant))["trade_no"]) == good.id

    await accounts.record_failure(good.account_id, classify(TransientError("超时")))
    async with gateway.app[DB].transaction() as conn:  # failing for longer than the degraded grace
        await conn.execute("UPDATE accounts SET failing_since = 0 WHERE id = ?", (good.account_id,))
    before = await snapshot(gateway)
    answer = await mapi(gateway, merchant)
    assert answer == {"code": -1, "msg": "所有收款账号暂不可用：测试账号（收钱吧）登录被拒绝，请检查密码；"
                      "测试账号（收钱吧）已停用；测试账号（收钱吧）无法连接服务商后台"}
    assert await snapshot(gateway) == before


async def test_a_daily_cap_counts_todays_paid_and_pending_orders(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway, terminal_id="T1", daily_cap_fen=500)
    first = await mapi(gateway, merchant, money="3.00")
    assert first["code"] == 1
    assert (await mapi(gateway, merchant, money="3.00"))["code"] == -1  # 3.00 + 2.99 > 5.00
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET status = 'paid', paid_at = ? WHERE trade_no = ?",
                           (now_ms(), first["trade_no"]))
    assert (await mapi(gateway, merchant, money="3.00"))["code"] == -1  # paid still counts
    assert (await mapi(gateway, merchant, money="2.00"))["code"] == 1  # exactly the cap

    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET created_at = created_at - ?", (DAY_MS,))
    assert (await mapi(gateway, merchant, money="5.00"))["code"] == 1  # yesterday's orders do not count


async def test_terminals_of_one_account_are_separate_scopes(gateway: RunningGateway, merchant: Merchant) -> None:
    first = await add_code(gateway, terminal_id="T1")
    await add_code(gateway, account_id=first.account_id, terminal_id="T2")
    for _ in range(2):
        await mapi(gateway, merchant, money="8.00")
    account = f"a{first.account_id}"
    assert await pay_amounts(gateway) == [(f"{account}:tT1", 800), (f"{account}:tT2", 800)]


async def test_without_terminal_ids_in_records_the_account_is_one_scope(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE platforms SET has_terminal = 0 WHERE slug = 'hkrt'")
    first = await add_code(gateway, terminal_id="T1", platform="hkrt")
    await add_code(gateway, account_id=first.account_id, terminal_id="T2")
    for _ in range(2):
        await mapi(gateway, merchant, money="8.00")
    assert await pay_amounts(gateway) == [(f"a{first.account_id}", 800), (f"a{first.account_id}", 799)]


async def test_a_code_without_terminal_id_is_scoped_to_its_account(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    code = await add_code(gateway)
    await mapi(gateway, merchant, money="8.00")
    assert await pay_amounts(gateway) == [(f"a{code.account_id}", 800)]


async def test_simultaneous_orders_rotate_over_all_codes(gateway: RunningGateway, merchant: Merchant) -> None:
    codes = [await add_code(gateway, terminal_id=f"T{i}") for i in range(3)]
    answers = await asyncio.gather(*(mapi(gateway, merchant, money=f"{i + 1}.00") for i in range(9)))
    used = Counter([await _code_of(gateway, answer["trade_no"]) for answer in answers])
    assert used == {code.id: 3 for code in codes}
