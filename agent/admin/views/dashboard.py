"""概览: today's business, live orders, the notify outbox, account health and the last seven days."""

from __future__ import annotations

from aiohttp import web

from agent.admin import stats
from agent.admin.plumbing import render
from agent.appkeys import ACCOUNTS, DB
from agent.db import now_ms
from agent.notify.outbox import job_counts
from agent.orders.queries import live_orders

routes = web.RouteTableDef()

LIVE_LIMIT = 10


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    db = request.config_dict[DB]
    now = now_ms()
    days = await stats.last_days(db, now)
    live = await live_orders(db, now, LIVE_LIMIT)
    return render(request, "dashboard.html", {
        "today": await stats.today(db, now),
        "bars": stats.chart_bars(days),
        "live_orders": live,
        "notify": await job_counts(db),
        "health": await request.config_dict[ACCOUNTS].count_by_health(),
        "now": now,
    })
