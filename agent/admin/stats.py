"""Figures for the dashboard, counted over Asia/Shanghai calendar days (read through ``agent.orders.queries``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.db import Database, now_ms
from agent.orders.queries import figures
from agent.timefmt import SHANGHAI, shanghai_day_start_ms

CHART_DAYS = 7


@dataclass(frozen=True, slots=True)
class Today:
    orders: int
    paid: int
    paid_fen: int
    live: int

    @property
    def success_rate(self) -> str:
        """Paid share of today's orders that are no longer waiting for a payer; "—" before there are any."""
        settled = self.orders - self.live
        if settled <= 0:
            return "—"
        return f"{self.paid * 100 / settled:.1f}%"


@dataclass(frozen=True, slots=True)
class Day:
    label: str  # "11-25"
    orders: int
    paid: int
    paid_fen: int


def day_start(at_ms: int, days_back: int = 0) -> int:
    """Epoch ms of Shanghai midnight ``days_back`` days before the day containing ``at_ms``."""
    return shanghai_day_start_ms(at_ms, days_back)


async def today(db: Database, now: int | None = None) -> Today:
    now = now_ms() if now is None else now
    start = day_start(now)
    found = await figures(db, start, None, now)
    return Today(found.orders, found.paid, found.paid_fen, found.live)


async def last_days(db: Database, now: int | None = None, days: int = CHART_DAYS) -> list[Day]:
    """Orders created and amounts paid per day, oldest first, today included."""
    now = now_ms() if now is None else now
    result = []
    for back in range(days - 1, -1, -1):
        start, end = day_start(now, back), day_start(now, back - 1)
        found = await figures(db, start, end, now)
        label = datetime.fromtimestamp(start / 1000, SHANGHAI).strftime("%m-%d")
        result.append(Day(label, found.orders, found.paid, found.paid_fen))
    return result


@dataclass(frozen=True, slots=True)
class Bar:
    day: Day
    x: float
    height: float  # paid amount bar
    orders_height: float  # orders count bar


def chart_bars(days: list[Day], *, plot_height: float = 120.0, slot: float = 60.0) -> list[Bar]:
    """Scale the days into an SVG plot: paid amount and order count, each against its own maximum."""
    top_fen = max((d.paid_fen for d in days), default=0) or 1
    top_orders = max((d.orders for d in days), default=0) or 1
    return [
        Bar(day, i * slot, plot_height * day.paid_fen / top_fen, plot_height * day.orders / top_orders)
        for i, day in enumerate(days)
    ]
