"""Expired orders free their amount slot, but only once the matching skew and the slot's quarantine passed."""

from __future__ import annotations

from typing import Any

import pytest

from agent.appkeys import DB
from agent.db import now_ms
from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code
from tests.intake.epay_client import mapi
from tests.support.gateway import RunningGateway


async def _expire(gateway: RunningGateway, trade_no: str, ago_ms: int) -> None:
    async with gateway.app[DB].transaction() as conn:
        await conn.execute("UPDATE orders SET expires_at = ? WHERE trade_no = ?", (now_ms() - ago_ms, trade_no))


async def _order(gateway: RunningGateway, trade_no: str) -> tuple[str, int]:
    row = await gateway.app[DB].fetchone("SELECT status, pay_amount_fen FROM orders WHERE trade_no = ?", (trade_no,))
    assert row is not None
    return row[0], row[1]


NO_QUARANTINE: dict[str, Any] = {"amount_quarantine_seconds": 0, "late_payment_grace_seconds": 0}


@pytest.mark.parametrize("settings_overrides", [NO_QUARANTINE])
async def test_an_order_past_expiry_and_skew_frees_its_amount(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    old = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    await _expire(gateway, old, gateway.settings.match_skew_seconds * 1000 + 1000)
    new = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    assert await _order(gateway, old) == ("expired", 600)
    assert await _order(gateway, new) == ("pending", 600)


async def test_within_the_skew_the_slot_stays_reserved(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    old = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    await _expire(gateway, old, 1000)
    new = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    assert await _order(gateway, old) == ("pending", 600)
    assert await _order(gateway, new) == ("pending", 599)


async def test_past_expiry_the_slot_stays_quarantined(gateway: RunningGateway, merchant: Merchant) -> None:
    await add_code(gateway, terminal_id="T1")
    old = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    await _expire(gateway, old, gateway.settings.match_skew_seconds * 1000 + 1000)
    new = (await mapi(gateway, merchant, money="6.00"))["trade_no"]
    assert await _order(gateway, old) == ("expired", 600)
    assert await _order(gateway, new) == ("pending", 599)
