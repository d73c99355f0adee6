"""Prometheus metrics: process-wide counters fed from hot paths, order gauges read from the DB per scrape.

The counters live on one module-level :data:`REGISTRY` (ours, not prometheus-client's default one) so any
code can record an event with a plain function call, e.g. ``metrics.poll_done("shouqianba", ok=True)``,
without being handed the application. One process serves one gateway, so process-wide is per-gateway;
tests that start several apps in one process compare counter deltas, never absolute values.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from agent.appkeys import DB, SETTINGS
from agent.orders import OrderStatus
from agent.orders.queries import status_counts
from agent.recurring import RecurringTask

REGISTRY = CollectorRegistry(auto_describe=True)

CONFIRMATIONS = Counter("mapay_confirmations", "Orders confirmed paid by a matched provider payment.", registry=REGISTRY)
DUPLICATES = Counter(
    "mapay_duplicate_payments",
    "Provider payments that landed on a quarantined amount slot (a payer paid twice or late); never confirmed.",
    registry=REGISTRY,
)
CONFIRMATION_SECONDS = Histogram(
    "mapay_order_confirmation_seconds",
    "Time from order creation to its confirmation.",
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600),
    registry=REGISTRY,
)
POLLS = Counter("mapay_polls", "Transaction-list reads of provider accounts.", ["platform"], registry=REGISTRY)
POLL_FAILURES = Counter("mapay_poll_failures", "Reads that raised an error.", ["platform"], registry=REGISTRY)
LOGINS = Counter("mapay_login_attempts", "Provider login attempts.", ["platform", "outcome"], registry=REGISTRY)
CAPTCHAS = Counter(
    "mapay_captcha_attempts", "Captcha answers judged by the provider.", ["platform", "kind", "outcome"],
    registry=REGISTRY,
)
NOTIFIES = Counter("mapay_notify_attempts", "Notify HTTP attempts to merchants.", ["outcome"], registry=REGISTRY)
ALERTS = Counter(
    "mapay_alerts",
    "Owner alerts by outcome: sent (a channel took it), failed (none did), merged into a summary, "
    "logged (no channel configured).",
    ["outcome"],
    registry=REGISTRY,
)
BROWSER_CONTEXTS = Gauge("mapay_browser_contexts", "Browser contexts currently open.", registry=REGISTRY)
LOGINS_RUNNING = Gauge("mapay_browser_logins_running", "Browser logins running now.", registry=REGISTRY)
LOGINS_WAITING = Gauge("mapay_browser_logins_waiting", "Browser logins queued for a login slot.", registry=REGISTRY)
LOOP_LAG = Gauge(
    "mapay_event_loop_lag_seconds", "How late the event loop woke a timer at the last probe.", registry=REGISTRY
)

ORDER_STATUSES = tuple(status.value for status in OrderStatus)
LAG_PROBE_INTERVAL = 1.0


def _outcome(ok: bool) -> str:
    return "ok" if ok else "failed"


def order_confirmed(created_at_ms: int, confirmed_at_ms: int) -> None:
    """Call once when an order turns paid (times in ms epoch, as stored)."""
    CONFIRMATIONS.inc()
    CONFIRMATION_SECONDS.observe(max(0, confirmed_at_ms - created_at_ms) / 1000)


def duplicate_payment_seen() -> None:
    DUPLICATES.inc()


def poll_done(platform: str, ok: bool) -> None:
    """Call after every transaction-list read of an account."""
    POLLS.labels(platform).inc()
    if not ok:
        POLL_FAILURES.labels(platform).inc()


def login_attempted(platform: str, ok: bool) -> None:
    LOGINS.labels(platform, _outcome(ok)).inc()


def captcha_attempted(platform: str, kind: str, ok: bool) -> None:
    """``kind`` is the captcha's: image or slider; ``ok`` whether the provider accepted the answer."""
    CAPTCHAS.labels(platform, kind, _outcome(ok)).inc()


def notify_attempted(outcome: str) -> None:
    """``outcome`` is the stored one: acked, rejected or error."""
    NOTIFIES.labels(outcome).inc()


def alert_finished(outcome: str) -> None:
    """``outcome``: sent, failed, merged or logged; one per alert (a summary counts once)."""
    ALERTS.labels(outcome).inc()


def browser_context_opened() -> None:
    BROWSER_CONTEXTS.inc()


def logins_running(count: int) -> None:
    LOGINS_RUNNING.set(count)


def logins_waiting(count: int) -> None:
    LOGINS_WAITING.set(count)


def browser_context_closed() -> None:
    BROWSER_CONTEXTS.dec()


class _OrderCounts(Collector):
    """Orders by status as counted in the database a moment ago (a gauge: orders change status)."""

    def __init__(self, counts: dict[str, int]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("mapay_orders", "Orders in the database by status.", labels=["status"])
        for status in ORDER_STATUSES:
            family.add_metric([status], self._counts.get(status, 0))
        yield family


class _UnmatchedCounts(Collector):
    """Provider payments waiting for review, duplicates (a quarantined slot paid again) apart from the rest."""

    def __init__(self, counts: dict[str, int]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "mapay_unmatched_payments", "Provider payments no order claimed, awaiting review.", labels=["kind"]
        )
        for kind in ("duplicate", "other"):
            family.add_metric([kind], self._counts.get(kind, 0))
        yield family


class _Forward(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


async def render(app: web.Application) -> bytes:
    """The exposition text: the process-wide metrics plus this gateway's orders and unmatched payments."""
    counts = await status_counts(app[DB])
    unmatched = await app[DB].fetchall(
        "SELECT CASE WHEN duplicate_of IS NULL THEN 'other' ELSE 'duplicate' END, count(*) "
        "FROM provider_transactions WHERE status = 'unmatched' GROUP BY 1"
    )
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Forward())
    scrape.register(_OrderCounts(counts))
    scrape.register(_UnmatchedCounts({row[0]: row[1] for row in unmatched}))
    return generate_latest(scrape)


def _authorized(request: web.Request) -> bool:
    token = request.app[SETTINGS].metrics_token
    if token is None or not token.get_secret_value():  # an empty MAPAY_METRICS_TOKEN means none
        return True
    expected = f"Bearer {token.get_secret_value()}".encode()
    return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected)


async def handle_metrics(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.Response(status=401, text="unauthorized\n", headers={"WWW-Authenticate": "Bearer"})
    body = await render(request.app)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def measure_loop_lag(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: a timer that records how late the loop wakes it; lateness means blocked code."""
    loop = asyncio.get_running_loop()
    due = loop.time() + LAG_PROBE_INTERVAL

    async def measure() -> None:
        nonlocal due
        now = loop.time()
        LOOP_LAG.set(max(0.0, now - due))
        due = now + LAG_PROBE_INTERVAL

    async with RecurringTask(measure, LAG_PROBE_INTERVAL, name="loop-lag-probe", wait_first=True).running():
        yield
