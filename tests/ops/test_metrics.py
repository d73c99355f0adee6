"""``/metrics`` scraped over real HTTP and parsed as Prometheus text."""

from __future__ import annotations

import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from agent.appkeys import DB
from agent.db import now_ms
from agent.ops import metrics
from agent.settings import Settings
from tests.allocation.pool_setup import add_code
from tests.support.gateway import RunningGateway, running_gateway

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(gateway: RunningGateway, headers: dict[str, str] | None = None) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(gateway.url + "/metrics", headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _insert_orders(gateway: RunningGateway, statuses: list[str]) -> None:
    code = await add_code(gateway)
    async with gateway.app[DB].transaction() as conn:
        cursor = await conn.execute("INSERT INTO merchants (name, key_enc, created_at) VALUES ('m', 'x', 0)")
        pid = cursor.lastrowid
        for n, status in enumerate(statuses):
            await conn.execute(
                "INSERT INTO orders (trade_no, pid, out_trade_no, name, money_fen, pay_amount_fen, code_id, "
                "account_id, scope, status, created_at, expires_at, notify_url) "
                "VALUES (?, ?, ?, 'x', 100, ?, ?, ?, 's', ?, ?, ?, 'http://127.0.0.1:9/')",
                (f"T{n}", pid, f"O{n}", 100 - n, code.id, code.account_id, status, now_ms(), now_ms() + 60_000),
            )


async def test_orders_by_status_are_counted_from_the_database_at_scrape_time(gateway: RunningGateway) -> None:
    before = await scrape(gateway)
    assert before[("mapay_orders", (("status", "pending"),))] == 0
    await _insert_orders(gateway, ["pending", "pending", "paid", "expired"])
    after = await scrape(gateway)
    counts = {status: after[("mapay_orders", (("status", status),))] for status in metrics.ORDER_STATUSES}
    assert counts == {"pending": 2, "paid": 1, "expired": 1, "closed": 0}


async def test_hot_path_events_show_up_as_counter_increments(gateway: RunningGateway) -> None:
    before = await scrape(gateway)
    metrics.poll_done("lakala", ok=True)
    metrics.poll_done("lakala", ok=False)
    metrics.login_attempted("lakala", ok=False)
    metrics.captcha_attempted("lakala", "slider", ok=True)
    metrics.notify_attempted("acked")
    metrics.order_confirmed(created_at_ms=1_000, confirmed_at_ms=43_000)
    metrics.browser_context_opened()
    after = await scrape(gateway)
    metrics.browser_context_closed()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("mapay_polls_total", platform="lakala") == 2
    assert delta("mapay_poll_failures_total", platform="lakala") == 1
    assert delta("mapay_login_attempts_total", platform="lakala", outcome="failed") == 1
    assert delta("mapay_captcha_attempts_total", platform="lakala", kind="slider", outcome="ok") == 1
    assert delta("mapay_notify_attempts_total", outcome="acked") == 1
    assert delta("mapay_confirmations_total") == 1
    assert delta("mapay_order_confirmation_seconds_sum") == 42
    assert delta("mapay_order_confirmation_seconds_bucket", le="30.0") == 0
    assert delta("mapay_order_confirmation_seconds_bucket", le="45.0") == 1
    assert delta("mapay_browser_contexts") == 1


async def test_event_loop_lag_is_measured(gateway: RunningGateway) -> None:
    # Block the loop the gateway runs on, as CPU-bound code in a handler would, for longer than the probe's
    # period: one of its wake-ups falls inside the block and comes at least 0.2 s late.
    time.sleep(metrics.LAG_PROBE_INTERVAL + 0.2)  # noqa: ASYNC251 - blocking the loop is the point
    assert (await scrape(gateway))[("mapay_event_loop_lag_seconds", ())] >= 0.15


async def test_metrics_token_guards_the_endpoint(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    async with running_gateway(guarded) as gateway, aiohttp.ClientSession() as http:
        async with http.get(gateway.url + "/metrics") as response:
            assert response.status == 401
        async with http.get(gateway.url + "/metrics", headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
        assert await scrape(gateway, {"Authorization": "Bearer scrape-me"})
