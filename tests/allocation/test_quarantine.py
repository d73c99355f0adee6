"""A slot that leaves pending is quarantined: the allocator skips it, and the database refuses it if asked."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from typing import Any

import aiohttp
import pytest

from agent.appkeys import DB
from agent.db import now_ms
from agent.merchants import Merchant
from tests.allocation.pool_setup import add_code, pay_amounts
from tests.intake.epay_client import mapi, order_fields
from tests.support.gateway import RunningGateway


def _writer(gateway: RunningGateway) -> sqlite3.Connection:
    """Another connection to the same file, as the CLI or a second process writes through."""
    return sqlite3.connect(gateway.app[DB].path, isolation_level=None, timeout=10)


async def _quarantine(gateway: RunningGateway) -> list[tuple[int, str, str]]:
    rows = await gateway.app[DB].fetchall("SELECT pay_amount_fen, scope, trade_no FROM amount_quarantine ORDER BY 1")
    return [(row[0], row[1], row[2]) for row in rows]


@pytest.mark.parametrize("status", ["paid", "expired", "closed"])
async def test_every_way_out_of_pending_quarantines_the_slot(
    gateway: RunningGateway, merchant: Merchant, status: str
) -> None:
    code = await add_code(gateway, terminal_id="T1")
    trade_no = (await mapi(gateway, merchant, money="4.00"))["trade_no"]
    with _writer(gateway) as conn:
        conn.execute("UPDATE orders SET status = ? WHERE trade_no = ?", (status, trade_no))
    assert await _quarantine(gateway) == [(400, f"a{code.account_id}:tT1", trade_no)]
    await mapi(gateway, merchant, money="4.00")
    assert [amount for _, amount in await pay_amounts(gateway)] == [399]


async def test_expired_slots_are_quarantined_at_least_for_the_late_payment_grace(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway, terminal_id="T1")
    settings = gateway.settings.model_copy(update={"amount_quarantine_seconds": 60, "late_payment_grace_seconds": 900})
    assert settings.quarantine_ms == (60_000, 900_000)
    trade_no = (await mapi(gateway, merchant, money="4.00"))["trade_no"]
    with _writer(gateway) as conn:
        conn.execute("UPDATE amount_quarantine_policy SET paid_ms = 60000, expired_ms = 900000")
        before = now_ms()
        conn.execute("UPDATE orders SET status = 'expired' WHERE trade_no = ?", (trade_no,))
    until = await gateway.app[DB].fetchval("SELECT until FROM amount_quarantine")
    assert before + 900_000 - 1 <= until <= now_ms() + 900_000  # SQLite's clock, to the millisecond


async def test_the_database_refuses_a_quarantined_slot_and_its_overlaps(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    """The backstop under the pool view: even SQL written by hand cannot put a new order on the slot."""
    on_t1 = await add_code(gateway, terminal_id="T1")
    await add_code(gateway, account_id=on_t1.account_id, terminal_id=None)  # scope "a<id>", overlaps a<id>:tT1
    trade_no = (await mapi(gateway, merchant, money="4.00"))["trade_no"]
    with _writer(gateway) as conn:
        conn.execute("UPDATE orders SET status = 'paid' WHERE trade_no = ?", (trade_no,))
        for scope in (f"a{on_t1.account_id}:tT1", f"a{on_t1.account_id}"):
            with pytest.raises(sqlite3.IntegrityError, match="amount_quarantine"):
                conn.execute(
                    "INSERT INTO orders (trade_no, pid, out_trade_no, name, money_fen, pay_amount_fen, code_id, "
                    "account_id, scope, created_at, expires_at, notify_url) SELECT 'X' || ?, pid, 'X' || ?, name, "
                    "money_fen, pay_amount_fen, code_id, account_id, ?, ?, ?, notify_url FROM orders "
                    "WHERE trade_no = ?", (scope, scope, scope, now_ms(), now_ms() + 60_000, trade_no),
                )
        conn.execute("UPDATE amount_quarantine SET until = ?", (now_ms() - 1,))  # ... until it has ended
        conn.execute(
            "INSERT INTO orders (trade_no, pid, out_trade_no, name, money_fen, pay_amount_fen, code_id, account_id, "
            "scope, created_at, expires_at, notify_url) SELECT 'LATER', pid, 'LATER', name, money_fen, "
            "pay_amount_fen, code_id, account_id, scope, ?, ?, notify_url FROM orders WHERE trade_no = ?",
            (now_ms(), now_ms() + 60_000, trade_no),
        )


async def test_another_code_at_the_exact_price_beats_an_offset_while_one_slot_is_quarantined(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    await add_code(gateway, terminal_id="T1")
    await add_code(gateway, terminal_id="T2")
    first = (await mapi(gateway, merchant, money="9.00"))["trade_no"]
    with _writer(gateway) as conn:
        conn.execute("UPDATE orders SET status = 'paid' WHERE trade_no = ?", (first,))
    await mapi(gateway, merchant, money="9.00")
    await mapi(gateway, merchant, money="9.00")
    assert sorted(amount for _, amount in await pay_amounts(gateway)) == [899, 900]


@pytest.mark.parametrize("settings_overrides", [{"offset_max_fen": 30}])
async def test_slots_released_while_orders_race_in_are_never_handed_out_again(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    """Payers pay (another process confirms orders) while 150 mapi.php calls ask for the same few prices: no
    (scope, amount) is ever held by two orders, whether the first one is still pending or already ended."""
    first = await add_code(gateway, terminal_id="T1")
    await add_code(gateway, account_id=first.account_id, terminal_id="T2")
    rng = random.Random(11)
    bodies = [order_fields(merchant, money=rng.choice(["1.00", "2.00"])) for _ in range(150)]
    stop = asyncio.Event()

    def confirm_some() -> int:
        """Mark a random pending order paid, or close or expire one, as the matcher / admin / sweep would."""
        with _writer(gateway) as conn:
            row = conn.execute("SELECT trade_no FROM orders WHERE status = 'pending' ORDER BY random() LIMIT 1").fetchone()
            if row is None:
                return 0
            status = rng.choice(["paid", "paid", "closed", "expired"])
            conn.execute("UPDATE orders SET status = ? WHERE trade_no = ? AND status = 'pending'", (status, row[0]))
            return 1

    async def payers() -> int:
        ended = 0
        while not stop.is_set():
            ended += await asyncio.to_thread(confirm_some)
            await asyncio.sleep(0.002)
        return ended

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:

        async def send(body: dict[str, str]) -> dict[str, Any]:
            async with http.post(gateway.url + "/mapi.php", data=body) as response:
                return dict(await response.json())

        racing = asyncio.create_task(payers())
        answers = []
        for wave in range(0, len(bodies), 6):  # waves, so payers pay between and during them
            answers += await asyncio.gather(*(send(body) for body in bodies[wave:wave + 6]))
            await asyncio.sleep(0.01)
        stop.set()
        ended = await racing

    assert ended > 20
    assert sum(1 for a in answers if a["code"] == 1) > 100
    reused = await gateway.app[DB].fetchall(
        "SELECT scope, pay_amount_fen, count(*) FROM orders GROUP BY scope, pay_amount_fen HAVING count(*) > 1"
    )
    assert [tuple(row) for row in reused] == []
