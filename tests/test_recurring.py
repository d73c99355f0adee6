"""The one recurring background task: start, wake, interval, errors, stop."""

from __future__ import annotations

import asyncio

from agent.recurring import RecurringTask


async def test_a_step_runs_at_start_then_every_interval_or_when_woken() -> None:
    runs: list[float] = []

    async def step() -> None:
        runs.append(asyncio.get_running_loop().time())

    task = RecurringTask(step, 60.0, name="test")
    async with task.running():
        await asyncio.sleep(0.05)
        assert len(runs) == 1
        task.wake()
        await asyncio.sleep(0.05)
        assert len(runs) == 2
    task.wake()
    await asyncio.sleep(0.05)
    assert len(runs) == 2  # stopped: no more steps


async def test_a_failing_step_is_reported_and_the_loop_goes_on() -> None:
    errors: list[Exception] = []
    calls = 0

    async def step() -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return 0.01

    async with RecurringTask(step, 0.01, name="test", on_error=errors.append).running():
        await asyncio.sleep(0.2)
    assert [str(e) for e in errors] == ["boom"]
    assert calls > 2


async def test_wait_first_waits_one_interval_before_the_first_step() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1

    async with RecurringTask(step, 60.0, name="test", wait_first=True).running():
        await asyncio.sleep(0.05)
    assert calls == 0
