"""Waiting for background work (the notify worker, the poll scheduler) without fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(check: Callable[[], Awaitable[T]], within: float = ..., interval: float = ...) -> T: ...
@overload
async def eventually(check: Callable[[], T], within: float = ..., interval: float = ...) -> T: ...


async def eventually(check: Callable[[], Any], within: float = 10.0, interval: float = 0.02) -> Any:
    """Call ``check`` (sync or async) until it returns something truthy and return that; fail after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value {value!r})")
        await asyncio.sleep(interval)
