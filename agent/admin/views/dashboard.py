"""概览: today's business, live orders, the notify outbox, account health and the last seven days."""

from __future__ import annotations

from aiohttp import web

from agent.admin import stats
from agent.admin.auth import admin_count
from agent.admin.plumbing import render
from agent.appkeys import ACCOUNTS, DB, MERCHANTS, SETTINGS
from agent.db import now_ms
from agent.notify.outbox import job_counts
from agent.ops import doctor
from agent.ops.health import BROWSER_PROBE
from agent.orders.queries import live_orders

routes = web.RouteTableDef()

LIVE_LIMIT = 10


async def checklist(request: web.Request) -> list[doctor.Check]:
    """``mapay doctor``'s checks as the running gateway sees them (its cached browser check, its own URL)."""
    app = request.config_dict
    settings, db, cli = app[SETTINGS], app[DB], doctor.default_cli()
    browser = await app[BROWSER_PROBE].result()
    return [
        *doctor.folder_checks(settings, cli),
        doctor.browser_check(browser.status, browser.detail),
        *await doctor.database_checks(db, app[ACCOUNTS], app[MERCHANTS], await admin_count(db), cli),
        *await doctor.reach_checks(settings, local_url=settings.base_url, include_gateway=False),
        doctor.alerts_check(settings, cli),
    ]


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
        # The live refresh swaps only the figures: the checklist (a request to our own public URL) is read once.
        "checks": [] if request.headers.get("X-Live") else await checklist(request),
    })
