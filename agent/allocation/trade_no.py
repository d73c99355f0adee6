"""Our order numbers: digits only, sortable by creation time, like epay's."""

from __future__ import annotations

import secrets

from agent.allocation.clock import shanghai_time


def new_trade_no(at_ms: int) -> str:
    """China-time ``YYYYMMDDHHMMSS`` + milliseconds + 5 random digits (22 digits); callers retry on a clash."""
    return f"{shanghai_time(at_ms):%Y%m%d%H%M%S}{at_ms % 1000:03d}{secrets.randbelow(100_000):05d}"
