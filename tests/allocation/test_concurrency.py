"""Many simultaneous signed mapi.php calls never produce two pending orders with one amount in one scope."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import pytest

from agent.appkeys import DB
from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code
from tests.intake.epay_client import order_fields
from tests.support.gateway import RunningGateway


@pytest.mark.parametrize("settings_overrides", [{"offset_max_fen": 20}])
async def test_concurrent_intake_keeps_amounts_unique_per_scope(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    first = await add_code(gateway, terminal_id="T1")
    await add_code(gateway, account_id=first.account_id, terminal_id="T2")
    await add_code(gateway, terminal_id="T3")
    rng = random.Random(7)
    bodies = [order_fields(merchant, money=rng.choice(["1.00", "0.50", "20.00"])) for _ in range(200)]
    connector = aiohttp.TCPConnector(limit=200)

    async with aiohttp.ClientSession(connector=connector) as http:

        async def send(body: dict[str, str]) -> dict[str, Any]:
            async with http.post(gateway.url + "/mapi.php", data=body) as response:
                assert response.status == 200
                return dict(await response.json())

        answers = await asyncio.gather(*(send(body) for body in bodies))

    created = [a for a in answers if a["code"] == 1]
    assert all(a["code"] == -1 and "已满" in a["msg"] for a in answers if a["code"] != 1)
    # 3 scopes x 21 amounts (price and 20 offsets) = 63 slots per price: every slot is used, none twice.
    for money in ("1.00", "0.50", "20.00"):
        asked = sum(1 for body, a in zip(bodies, answers, strict=True) if body["money"] == money)
        made = sum(1 for body, a in zip(bodies, answers, strict=True) if body["money"] == money and a["code"] == 1)
        assert made == min(asked, 63)
    db = gateway.app[DB]
    assert await db.fetchval("SELECT count(*) FROM orders WHERE status = 'pending'") == len(created)
    duplicates = await db.fetchall(
        "SELECT scope, pay_amount_fen FROM orders WHERE status = 'pending' "
        "GROUP BY scope, pay_amount_fen HAVING count(*) > 1"
    )
    assert duplicates == []
    rows = await db.fetchall("SELECT money_fen, pay_amount_fen FROM orders")
    assert all(0 < pay <= money and money - pay <= gateway.settings.offset_max_fen for money, pay in rows)
