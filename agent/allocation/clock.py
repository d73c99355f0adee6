"""Asia/Shanghai wall-clock helpers: payers, merchants and daily caps count days in China time."""

from __future__ import annotations

from datetime import datetime

from agent.timefmt import SHANGHAI

DAY_MS = 86_400_000


def shanghai_time(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, SHANGHAI)


def iso_time(at_ms: int | None) -> str | None:
    """ISO 8601 with the +08:00 offset, for the native JSON API."""
    return None if at_ms is None else shanghai_time(at_ms).isoformat(timespec="seconds")


def shanghai_day_start_ms(at_ms: int) -> int:
    """Midnight (China time) of the day containing ``at_ms``: the start of a daily cap's day."""
    midnight = shanghai_time(at_ms).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000)
