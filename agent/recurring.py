"""One recurring background task: run a step, wait an interval (or until woken), again, until stopped.

Every background loop of the gateway is one of these: the notify worker, the poll scheduler, the browser
reaper, the WAL checkpointer, the alert watcher and its sender, the storage probe, the loop-lag probe and
the demo's SMS reader. A step returns how long to wait
before the next one (None: the interval); a step that raises is reported to ``on_error`` and the loop goes
on, so a background loop never dies of one bad step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[float | None]]


def _log_error(name: str) -> Callable[[Exception], None]:
    def report(exc: Exception) -> None:
        log.error("recurring_task_error", task=name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    return report


class RecurringTask:
    """``step`` every ``interval`` seconds (or sooner, see ``wake``), from ``start()`` to ``stop()``."""

    def __init__(
        self, step: Step, interval: float, *, name: str, wait_first: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.interval = interval
        self.name = name
        self._step = step
        self._wait_first = wait_first  # wait one interval before the first step
        self._on_error = on_error or _log_error(name)
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop (a running step included) and wait until it has ended."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        """Run the next step now instead of at the end of the current wait."""
        self._woken.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RecurringTask]:
        self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _run(self) -> None:
        delay: float = self.interval if self._wait_first else 0.0
        while True:
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._woken.wait()
            else:
                await asyncio.sleep(0)  # a step asking for no wait still lets the loop breathe
            self._woken.clear()
            try:
                wanted = await self._step()
            except Exception as exc:
                self._on_error(exc)
                wanted = None
            delay = self.interval if wanted is None else wanted
