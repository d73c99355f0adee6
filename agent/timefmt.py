"""Times as merchants and providers write them: Asia/Shanghai wall-clock "Y-m-d H:i:s"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


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
