"""The poll scheduler in the real app, reading an in-process back office: payments to notifies, failures to health."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from itertools import pairwise
from statistics import median
from typing import Any

from structlog.testing import capture_logs

from agent.appkeys import ACCOUNTS, DB, MERCHANTS
from agent.codes import Code
from agent.db import now_ms
from agent.merchants import Merchant
from agent.orders import OrderStatus, get_order
from agent.polling import POLL_SCHEDULER
from agent.providers.base import (
    AuthFailed,
    HealthState,
    LayoutChanged,
    NeedsHuman,
    SessionExpired,
    TransientError,
)
from agent.settings import Settings
from tests.intake.epay_client import mapi
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice
from tests.support.merchant_site import serve_merchant_site


async def status(gateway: RunningGateway, trade_no: str) -> OrderStatus:
    order = await get_order(gateway.app[DB], trade_no)
    assert order is not None
    return order.status


async def health(gateway: RunningGateway, account_id: int) -> tuple[HealthState, str | None]:
    account = await gateway.app[ACCOUNTS].account(account_id)
    return account.health, account.health_reason


async def live_code(gateway: RunningGateway, merchant: Merchant, **order: object) -> tuple[Code, str]:
    code = await add_code(gateway.app)
    placed = await insert_order(gateway.app, merchant, code, **order)  # type: ignore[arg-type]
    return code, placed.trade_no


async def test_a_payment_read_from_the_provider_pays_the_order_and_notifies_the_merchant(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    async with serve_merchant_site(merchant.key) as site:
        code = await add_code(gateway.app)
        order = await insert_order(gateway.app, merchant, code, money_fen=1000, pay_amount_fen=998,
                                   notify_url=site.url)
        site.expect(order.out_trade_no, "10.00")
        office.pay(code.account_id, 998, terminal_id=code.terminal_id)
        received = await eventually(lambda: site.acknowledged)
    assert received[0].params["money"] == "10.00"
    paid = await get_order(gateway.app[DB], order.trade_no)
    assert paid is not None and paid.status is OrderStatus.PAID
    assert paid.provider_trade_no == office.ledgers[code.account_id][0].trade_no
    assert await health(gateway, code.account_id) == (HealthState.OK, None)


async def test_an_order_from_mapi_php_is_paid_and_notified(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    async with serve_merchant_site(merchant.key) as site:
        answer = await mapi(gateway, merchant, notify_url=site.url, money="25.50", out_trade_no="ORDER-1")
        assert answer["code"] == 1, answer
        site.expect("ORDER-1", "25.50")
        order = await get_order(gateway.app[DB], answer["trade_no"])
        assert order is not None and order.account_id == code.account_id
        office.pay(order.account_id, order.pay_amount_fen, terminal_id=code.terminal_id)
        received = await eventually(lambda: site.acknowledged)
    assert received[0].params["trade_no"] == order.trade_no and received[0].params["money"] == "25.50"


async def test_a_wrong_amount_is_kept_unmatched(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code, trade_no = await live_code(gateway, merchant, money_fen=1000)
    office.pay(code.account_id, 1001)
    db = gateway.app[DB]
    await eventually(lambda: db.fetchval("SELECT count(*) FROM provider_transactions WHERE status = 'unmatched'"))
    assert await status(gateway, trade_no) is OrderStatus.PENDING


async def test_idle_accounts_are_never_polled(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    idle = await add_code(gateway.app)
    long_ago = now_ms() - 3_600_000
    await insert_order(gateway.app, merchant, idle, created_at=long_ago, status="expired")
    await insert_order(gateway.app, merchant, idle, created_at=long_ago, status="paid")
    live, _ = await live_code(gateway, merchant)
    await eventually(lambda: office.fetches[live.account_id] >= 5)
    assert office.created[idle.account_id] == 0 and office.fetches[idle.account_id] == 0
    assert office.created[live.account_id] == 1  # kept, not rebuilt for every poll
    assert office.logins[live.account_id] == 1


async def test_the_read_window_covers_every_live_order_plus_skew(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice, settings: Settings
) -> None:
    code = await add_code(gateway.app)
    recently_expired = await insert_order(
        gateway.app, merchant, code, created_at=now_ms() - 400_000, ttl_ms=300_000, status="expired"
    )
    await insert_order(gateway.app, merchant, code, money_fen=2000)
    await eventually(lambda: office.windows[code.account_id])
    since, until = office.windows[code.account_id][0]
    skew = timedelta(seconds=settings.match_skew_seconds)
    assert since.timestamp() * 1000 == recently_expired.created_at - skew.total_seconds() * 1000
    assert until.timestamp() * 1000 >= now_ms() + skew.total_seconds() * 1000 - 5_000


async def test_a_late_payment_confirms_a_recently_expired_order(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    created = now_ms() - 340_000  # expired 40 s ago: past the 30 s skew, within the grace time
    code, trade_no = await live_code(gateway, merchant, created_at=created, ttl_ms=300_000)
    await eventually(lambda: _is(gateway, trade_no, OrderStatus.EXPIRED))
    office.pay(code.account_id, 1000, paid_at_ms=created + 290_000)
    await eventually(lambda: _is(gateway, trade_no, OrderStatus.PAID))


async def _is(gateway: RunningGateway, trade_no: str, expected: OrderStatus) -> bool:
    return await status(gateway, trade_no) is expected


async def test_one_job_per_account_while_other_accounts_run_alongside(settings: Settings) -> None:
    office = MemoryBackOffice(fetch_delay=0.3)
    async with running_gateway(settings, provider_factory=office) as gateway:
        merchant = await gateway.app[MERCHANTS].create("并发")
        first, _ = await live_code(gateway, merchant)
        second, _ = await live_code(gateway, merchant)
        scheduler = gateway.app[POLL_SCHEDULER]
        await eventually(lambda: office.fetches[first.account_id] >= 1)
        for _ in range(20):
            scheduler.request_poll(first.account_id)
        await eventually(lambda: office.fetches[first.account_id] >= 4)
    assert office.most_in_flight[first.account_id] == 1
    assert office.most_in_flight[second.account_id] == 1
    starts = sorted(office.fetch_started[first.account_id] + office.fetch_started[second.account_id])
    assert any(later - earlier < 0.3 for earlier, later in pairwise(starts))  # the two overlapped


async def test_request_poll_reads_at_once(settings: Settings) -> None:
    office = MemoryBackOffice()
    slow = settings.model_copy(update={"poll_interval_seconds": 600.0})
    async with running_gateway(slow, provider_factory=office) as gateway:
        merchant = await gateway.app[MERCHANTS].create("立即")
        code, trade_no = await live_code(gateway, merchant)
        await eventually(lambda: office.fetches[code.account_id] == 1)  # the first read comes at once
        office.pay(code.account_id, 1000)
        gateway.app[POLL_SCHEDULER].request_poll(code.account_id)
        await eventually(lambda: _is(gateway, trade_no, OrderStatus.PAID), within=2)
        assert office.fetches[code.account_id] == 2


async def test_the_interval_is_counted_from_the_start_of_the_previous_read(settings: Settings) -> None:
    office = MemoryBackOffice(fetch_delay=0.3)
    spaced = settings.model_copy(update={"poll_interval_seconds": 0.5})
    async with running_gateway(spaced, provider_factory=office) as gateway:
        merchant = await gateway.app[MERCHANTS].create("间隔")
        code, _ = await live_code(gateway, merchant)
        await eventually(lambda: office.fetches[code.account_id] >= 6, within=10)
    gaps = [b - a for a, b in pairwise(office.fetch_started[code.account_id])]
    assert min(gaps) >= 0.49  # never sooner than the interval
    assert median(gaps) < 0.7  # counted from the end it would be 0.3 s read + 0.5 s = 0.8 s
    assert office.most_in_flight[code.account_id] == 1


async def test_a_provider_minimum_spacing_is_respected(settings: Settings) -> None:
    office = MemoryBackOffice(min_poll_interval=0.4)
    async with running_gateway(settings, provider_factory=office) as gateway:
        merchant = await gateway.app[MERCHANTS].create("限速")
        code, _ = await live_code(gateway, merchant)
        for _ in range(4):
            await eventually(lambda: office.fetches[code.account_id] >= 1)
            gateway.app[POLL_SCHEDULER].request_poll(code.account_id)
        await eventually(lambda: office.fetches[code.account_id] >= 4, within=5)
    gaps = [b - a for a, b in pairwise(office.fetch_started[code.account_id])]
    assert min(gaps) >= 0.39


async def test_transient_errors_back_off_and_mark_the_account_degraded(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice, settings: Settings
) -> None:
    code = await add_code(gateway.app)
    office.fail_fetch(code.account_id, *[TransientError("HTTP 502")] * 4)
    trade_no = (await insert_order(gateway.app, merchant, code, money_fen=1500)).trade_no
    await eventually(lambda: office.fetches[code.account_id] >= 2)
    assert await health(gateway, code.account_id) == (HealthState.DEGRADED, "TransientError: HTTP 502")
    office.pay(code.account_id, 1500)
    await eventually(lambda: _is(gateway, trade_no, OrderStatus.PAID))
    assert await health(gateway, code.account_id) == (HealthState.OK, None)
    gaps = [b - a for a, b in pairwise(office.fetch_started[code.account_id])]
    base, cap = settings.poll_interval_seconds, settings.poll_backoff_max_seconds
    expected = [min(base * 2**i, cap) for i in range(4)]  # 0.05, 0.1, 0.2, 0.4
    for gap, wait in zip(gaps[:4], expected, strict=True):
        assert gap >= wait * 0.95


async def test_an_expired_session_logs_in_again_within_the_same_job(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_fetch(code.account_id, SessionExpired("token expired"))
    office.pay(code.account_id, 1000)
    trade_no = (await insert_order(gateway.app, merchant, code)).trade_no
    await eventually(lambda: _is(gateway, trade_no, OrderStatus.PAID))
    assert office.logins[code.account_id] == 2 and office.fetches[code.account_id] >= 2
    assert await health(gateway, code.account_id) == (HealthState.OK, None)


async def test_refused_credentials_stop_polling_until_health_is_reset(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_login(code.account_id, AuthFailed("密码错误"))
    healthy, healthy_order = await live_code(gateway, merchant, money_fen=3000)
    await insert_order(gateway.app, merchant, code)
    await eventually(lambda: _health_is(gateway, code.account_id, HealthState.LOGIN_FAILED))
    assert await health(gateway, code.account_id) == (HealthState.LOGIN_FAILED, "密码错误")

    office.pay(healthy.account_id, 3000)  # other accounts keep working
    await eventually(lambda: _is(gateway, healthy_order, OrderStatus.PAID))
    await insert_order(gateway.app, merchant, healthy, money_fen=3100)  # keeps that account live
    await eventually(lambda: office.fetches[healthy.account_id] >= 10)
    assert office.logins[code.account_id] == 1 and office.fetches[code.account_id] == 0  # no retry storm

    await gateway.app[ACCOUNTS].update_account(code.account_id, password="fixed-pass")  # a person fixed it
    await eventually(lambda: office.fetches[code.account_id] >= 1)
    assert office.created[code.account_id] == 2  # rebuilt with the current credentials
    assert office.passwords[code.account_id] == "fixed-pass"


async def _health_is(gateway: RunningGateway, account_id: int, expected: HealthState) -> bool:
    return (await health(gateway, account_id))[0] is expected


def _failures_logged(logs: list[MutableMapping[str, Any]], account_id: int) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "poll_failed" and e["account_id"] == account_id]


async def test_a_human_step_stops_polling_with_needs_human(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_login(code.account_id, NeedsHuman("请输入短信验证码"))
    with capture_logs() as logs:
        await insert_order(gateway.app, merchant, code)
        await eventually(lambda: _health_is(gateway, code.account_id, HealthState.NEEDS_HUMAN))
        await eventually(lambda: _failures_logged(logs, code.account_id))
    failed = _failures_logged(logs, code.account_id)
    assert [(e["error"], e["detail"], e["exc_info"]) for e in failed] == [("NeedsHuman", "请输入短信验证码", False)]
    assert await health(gateway, code.account_id) == (HealthState.NEEDS_HUMAN, "请输入短信验证码")
    logins = office.logins[code.account_id]
    other, _ = await live_code(gateway, merchant, money_fen=700)
    await eventually(lambda: office.fetches[other.account_id] >= 5)
    assert office.logins[code.account_id] == logins


async def test_a_changed_layout_is_degraded_with_the_step(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_fetch(code.account_id, *[LayoutChanged("transactions.rows", "no column 金额")] * 50)
    await insert_order(gateway.app, merchant, code)
    await eventually(lambda: _health_is(gateway, code.account_id, HealthState.DEGRADED))
    assert await health(gateway, code.account_id) == (HealthState.DEGRADED, "transactions.rows: no column 金额")
    await eventually(lambda: office.fetches[code.account_id] >= 3)  # still tried, with backoff


async def test_an_unexpected_provider_crash_is_degraded_and_the_scheduler_survives(
    gateway: RunningGateway, merchant: Merchant, office: MemoryBackOffice
) -> None:
    code = await add_code(gateway.app)
    office.fail_fetch(code.account_id, RuntimeError("boom"))  # type: ignore[arg-type]
    office.pay(code.account_id, 1000)
    with capture_logs() as logs:
        trade_no = (await insert_order(gateway.app, merchant, code)).trade_no
        await eventually(lambda: _failures_logged(logs, code.account_id))
    failed = _failures_logged(logs, code.account_id)
    assert [(e["error"], e["exc_info"]) for e in failed] == [("RuntimeError", True)]  # unexpected: traceback
    assert (await health(gateway, code.account_id))[1] == "RuntimeError: boom"
    await eventually(lambda: _is(gateway, trade_no, OrderStatus.PAID))


async def test_overdue_orders_are_swept_to_expired_even_without_a_provider(settings: Settings) -> None:
    async with running_gateway(settings) as gateway:
        merchant = await gateway.app[MERCHANTS].create("过期")
        skew_ms = settings.match_skew_seconds * 1000
        _, overdue = await live_code(gateway, merchant, created_at=now_ms() - 300_000 - skew_ms - 1_000)
        _, within_skew = await live_code(gateway, merchant, created_at=now_ms() - 300_000 - skew_ms + 60_000)
        await eventually(lambda: _is(gateway, overdue, OrderStatus.EXPIRED))
        assert await status(gateway, within_skew) is OrderStatus.PENDING
