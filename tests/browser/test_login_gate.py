"""The login gate: a fixed number of logins at once, the longest-waiting orders' accounts first."""

from __future__ import annotations

import asyncio

from agent.browser.logins import LoginGate, parked_to_close


async def test_queued_logins_enter_by_their_oldest_order_and_never_above_the_cap() -> None:
    gate = LoginGate(2)
    entered: list[str] = []
    release = asyncio.Event()

    async def login(name: str, priority: float | None) -> None:
        async with gate.slot(priority):
            entered.append(name)
            assert gate.running <= 2
            await release.wait()

    holders = [asyncio.create_task(login(name, 0)) for name in ("a", "b")]
    await asyncio.sleep(0)
    queued = [asyncio.create_task(login(name, priority))
              for name, priority in (("probe", None), ("new", 300), ("old", 100), ("middle", 200))]
    await asyncio.sleep(0)
    assert gate.running == 2 and gate.waiting == 4
    release.set()
    await asyncio.gather(*holders, *queued)
    assert entered == ["a", "b", "old", "middle", "new", "probe"]
    assert gate.peak == 2 and gate.running == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    gate = LoginGate(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot(1):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    later = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await asyncio.gather(holder, later)
    assert waiter.cancelled() and gate.running == 0 and gate.waiting == 0


def test_parked_logins_beyond_the_cap_or_past_the_code_wait_are_closed_oldest_first() -> None:
    parked = [(1_000, "oldest"), (9_000, "newest"), (5_000, "middle"), (7_000, "recent")]
    assert parked_to_close(parked, keep=2, max_age_ms=60_000, now_ms=10_000) == ["middle", "oldest"]
    assert parked_to_close(parked, keep=10, max_age_ms=4_000, now_ms=10_000) == ["middle", "oldest"]
    assert parked_to_close(parked, keep=10, max_age_ms=60_000, now_ms=10_000) == []
    assert parked_to_close([], keep=0, max_age_ms=0, now_ms=10_000) == []
