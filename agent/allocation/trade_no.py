"""Our order numbers: digits only, sortable by creation time, like epay's."""

from __future__ import annotations

import secrets

from agent.allocation.clock import shanghai_time

_SUFFIXES = range(100_000)
_random = secrets.SystemRandom()


def _prefix(at_ms: int) -> str:
    return f"{shanghai_time(at_ms):%Y%m%d%H%M%S}{at_ms % 1000:03d}"


def new_trade_no(at_ms: int) -> str:
    """China-time ``YYYYMMDDHHMMSS`` + milliseconds + 5 random digits (22 digits); callers retry on a clash."""
    return _prefix(at_ms) + f"{_random.choice(_SUFFIXES):05d}"


def new_trade_nos(at_ms: int, count: int) -> list[str]:
    """``count`` distinct numbers for one batch (random suffixes drawn without replacement)."""
    prefix = _prefix(at_ms)
    return [f"{prefix}{suffix:05d}" for suffix in _random.sample(_SUFFIXES, count)]
