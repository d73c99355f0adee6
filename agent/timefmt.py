"""Times as merchants and providers write them: Asia/Shanghai wall-clock "Y-m-d H:i:s"."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_MS = 86_400_000


def format_local(ms: int | None) -> str:
    """Epoch milliseconds to "2026-11-25 18:00:00" in Asia/Shanghai; empty for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def to_ms(moment: datetime) -> int:
    """A timezone-aware datetime to epoch milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return int(moment.timestamp() * 1000)


def shanghai_time(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, SHANGHAI)


def shanghai_day_start_ms(at_ms: int, days_back: int = 0) -> int:
    """Midnight (China time) of the day containing ``at_ms``, or of the day ``days_back`` days before it.

    Payers, merchants, daily caps and the dashboard all count days in China time.
    """
    midnight = shanghai_time(at_ms).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return to_ms(midnight)
