"""概览: today's business, live orders, the notify outbox, account health and the last seven days."""

from __future__ import annotations

from aiohttp import web

from agent.admin import stats
from agent.admin.plumbing import render
from agent.db import now_ms
from agent.keys import DB

LIVE_LIMIT = 10


async def dashboard(request: web.Request) -> web.Response:
    db = request.config_dict[DB]
    now = now_ms()
    days = await stats.last_days(db, now)
    live_orders = await db.fetchall(
        "SELECT o.trade_no, o.out_trade_no, o.pid, o.money_fen, o.pay_amount_fen, o.created_at, o.expires_at, "
        "a.name AS account FROM orders o JOIN accounts a ON a.id = o.account_id "
        "WHERE o.status = 'pending' AND o.expires_at > ? ORDER BY o.created_at DESC LIMIT ?",
        (now, LIVE_LIMIT),
    )
    return render(request, "dashboard.html", {
        "today": await stats.today(db, now),
        "bars": stats.chart_bars(days),
        "live_orders": live_orders,
        "notify": await stats.notify_counts(db),
        "health": await stats.accounts_by_health(db),
        "now": now,
    })
