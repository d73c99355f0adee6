"""The drain gate in-process: workers' jobs are waited for, their loops are told to stop."""

from __future__ import annotations

import asyncio

from agent.ops.drain import DRAIN, Drain
from agent.settings import Settings
from tests.support.gateway import running_gateway


async def test_drain_waits_for_a_running_job_and_ends_worker_pauses() -> None:
    drain = Drain()
    finished: list[str] = []
    job_started = asyncio.Event()

    async def worker() -> None:
        while True:
            async with drain.job():
                job_started.set()
                await asyncio.sleep(0.3)
                finished.append("job")
            if await drain.pause(3600):
                finished.append("loop ended")
                return

    task = asyncio.create_task(worker())
    await job_started.wait()
    assert drain.running == 1
    assert await drain.drain(grace=5) is True
    assert finished == ["job"] and drain.draining
    await asyncio.wait_for(task, timeout=1)  # the hour-long pause ended at once
    assert finished == ["job", "loop ended"]


async def test_drain_gives_up_after_its_grace() -> None:
    drain = Drain()
    release = asyncio.Event()

    async def stuck() -> None:
        async with drain.job():
            await release.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    assert await drain.drain(grace=0.2) is False
    release.set()
    await task


async def test_stopping_the_app_any_way_starts_the_drain(settings: Settings) -> None:
    async with running_gateway(settings) as gateway:  # leaving it runs runner.cleanup(), as web.run_app does
        drain = gateway.app[DRAIN]
        assert not drain.draining
    assert drain.draining


async def test_a_tracked_task_counts_from_creation_until_done() -> None:
    drain = Drain()
    task = asyncio.create_task(asyncio.sleep(0.2))
    drain.track(task)
    assert drain.running == 1  # before the task has even started
    assert await drain.drain(grace=5) is True
    assert task.done() and drain.running == 0
