"""Browser logins are a bounded resource: at most ``login_concurrency`` run at once, the rest queue.

A login is the expensive part of an account's life (a context, a renderer, images for the captcha solver):
after a restart or a provider-wide session purge hundreds of accounts may want one in the same second. The
gate lets a fixed number through and queues the others by urgency: the account whose oldest live order has
waited longest goes first (accounts with no live order, e.g. probes, after every account that has one).

A login parked at its one-time-code step gives its slot back but keeps its page: :func:`parked_to_close`
bounds those pages too (a count and an age), so many SMS accounts waiting for a person cannot fill memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from agent.ops import metrics

Parked = TypeVar("Parked")


class LoginGate:
    """A priority semaphore: ``async with gate.slot(priority)``; lower priority values enter first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.peak = 0  # most logins seen running at once (tests and the bench read it)
        self._queue: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._queue if not future.done())

    @contextlib.asynccontextmanager
    async def slot(self, priority: float | None = None) -> AsyncIterator[None]:
        """Hold one of the login slots for the block; ``priority``: the oldest live order's creation (ms)."""
        await self._enter(math.inf if priority is None else priority)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, priority: float) -> None:
        if self.running < self.limit and not self._queue:
            self._started()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (priority, next(self._order), future))
        metrics.logins_waiting(self.waiting)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._leave()  # handed a slot just as it was cancelled: pass it on
            raise
        # _leave() counted this login as running when it handed the slot over

    def _started(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        metrics.logins_running(self.running)

    def _leave(self) -> None:
        self.running -= 1
        while self._queue and self.running < self.limit:
            _, _, future = heapq.heappop(self._queue)
            if not future.done():
                self._started()
                future.set_result(None)
        metrics.logins_running(self.running)
        metrics.logins_waiting(self.waiting)


def parked_to_close(parked: Sequence[tuple[int, Parked]], *, keep: int, max_age_ms: int, now_ms: int) -> list[Parked]:
    """Of the parked logins (when each had its code sent, ms), those whose page should close: older than
    ``max_age_ms`` (the code has expired), and beyond the ``keep`` most recent (their codes are the likeliest
    to arrive; the oldest waits are the likeliest abandoned)."""
    newest_first = sorted(parked, key=lambda item: item[0], reverse=True)
    return [login for index, (since, login) in enumerate(newest_first) if index >= keep or now_ms - since > max_age_ms]
