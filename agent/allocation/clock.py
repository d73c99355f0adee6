"""Asia/Shanghai wall-clock helpers for allocation and the native API (the definitions: ``agent.timefmt``)."""

from __future__ import annotations

from agent.timefmt import DAY_MS, shanghai_day_start_ms, shanghai_time

__all__ = ["DAY_MS", "iso_time", "shanghai_day_start_ms", "shanghai_time"]


def iso_time(at_ms: int | None) -> str | None:
    """ISO 8601 with the +08:00 offset, for the native JSON API."""
    return None if at_ms is None else shanghai_time(at_ms).isoformat(timespec="seconds")
