"""Unique payable amounts: another code at the price first, then 1-fen offsets in the set direction."""

from __future__ import annotations

import pytest

from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code, pay_amounts
from tests.intake.db_snapshot import snapshot
from tests.intake.epay_client import mapi
from tests.support.gateway import RunningGateway


async def _amounts_for(gateway: RunningGateway, merchant: Merchant, money: str, count: int) -> list[int]:
    for _ in range(count):
        assert (await mapi(gateway, merchant, money=money))["code"] == 1
    return [amount for _, amount in await pay_amounts(gateway)]


async def test_another_code_at_the_price_is_preferred_over_an_offset(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    first, second = await add_code(gateway, terminal_id="T1"), await add_code(gateway, terminal_id="T2")
    await _amounts_for(gateway, merchant, "10.00", 3)
    assert await pay_amounts(gateway) == [
        (f"a{first.account_id}:tT1", 1000), (f"a{second.account_id}:tT2", 1000), (f"a{first.account_id}:tT1", 999),
    ]


async def test_offsets_step_down_one_fen_at_a_time(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    assert await _amounts_for(gateway, merchant, "10.00", 4) == [1000, 999, 998, 997]


@pytest.mark.parametrize("settings_overrides", [{"offset_max_fen": 2}])
async def test_an_exhausted_range_is_a_clear_error_that_changes_nothing(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway, terminal_id="T1")
    assert await _amounts_for(gateway, merchant, "10.00", 3) == [1000, 999, 998]
    before = await snapshot(gateway)
    answer = await mapi(gateway, merchant, money="10.00")
    assert answer["code"] == -1 and "已满" in answer["msg"]
    assert await snapshot(gateway) == before


async def test_offsets_never_reach_zero(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    assert await _amounts_for(gateway, merchant, "0.02", 2) == [2, 1]
    assert (await mapi(gateway, merchant, money="0.02"))["code"] == -1


@pytest.mark.parametrize("settings_overrides", [{"offset_direction": "up"}])
async def test_direction_up_asks_a_little_more(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    assert await _amounts_for(gateway, merchant, "10.00", 3) == [1000, 1001, 1002]


@pytest.mark.parametrize("settings_overrides", [{"offset_direction": "both", "offset_max_fen": 1}])
async def test_direction_both_alternates(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    assert await _amounts_for(gateway, merchant, "10.00", 3) == [1000, 999, 1001]
    assert (await mapi(gateway, merchant, money="10.00"))["code"] == -1
