"""The Alerter on its own: dedupe that survives a restart, the storm summary, channels that fail or hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from agent.alerts import Alerter
from agent.db import Database
from agent.ops.metrics import REGISTRY
from agent.settings import Settings
from tests.support.alert_receiver import AlertReceiver, closed_port_url, serve_alert_receiver
from tests.support.eventually import eventually


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with Database(settings.database_path) as database:
        yield database


def _alerts_total(outcome: str) -> float:
    return REGISTRY.get_sample_value("mapay_alerts_total", {"outcome": outcome}) or 0.0


async def test_a_raised_alert_is_sent_once_and_again_only_after_it_was_resolved(
    db: Database, settings: Settings, receiver: AlertReceiver
) -> None:
    async with Alerter(db, settings) as alerter:
        assert alerter.raise_alert("storage", "数据库写入失败", "磁盘已满") is True
        assert alerter.raise_alert("storage", "数据库写入失败", "磁盘已满") is False
        await eventually(lambda: receiver.received)
        alerter.resolve("storage")
        assert alerter.raise_alert("storage", "数据库写入失败", "又满了") is True
        await eventually(lambda: len(receiver.received) == 2)
    assert [alert["message"] for alert in receiver.received] == ["磁盘已满", "又满了"]


async def test_dedupe_survives_a_restart_on_the_same_database_file(
    settings: Settings, receiver: AlertReceiver
) -> None:
    async with Database(settings.database_path) as db, Alerter(db, settings) as alerter:
        alerter.raise_alert("account:1:needs_human", "需要验证码：门店一（盛付通）", "请输入验证码")
        await eventually(lambda: receiver.received)
    async with Database(settings.database_path) as db, Alerter(db, settings) as alerter:
        assert alerter.is_active("account:1:needs_human")
        assert alerter.raise_alert("account:1:needs_human", "需要验证码：门店一（盛付通）", "请输入验证码") is False
        alerter.resolve("account:1:needs_human")
    async with Database(settings.database_path) as db, Alerter(db, settings) as alerter:
        assert alerter.raise_alert("account:1:needs_human", "需要验证码：门店一（盛付通）", "请输入验证码") is True
        await eventually(lambda: len(receiver.received) == 2)


async def test_a_storm_beyond_the_rate_limit_becomes_one_summary(db: Database, settings: Settings, receiver: AlertReceiver) -> None:
    settings = settings.model_copy(update={"alert_rate_limit": 3, "alert_rate_window_seconds": 1.0})
    async with Alerter(db, settings) as alerter:
        for n in range(10):
            alerter.raise_alert(f"unmatched:{n}", f"未匹配的付款：{n}.00 元", "请处理")
        await eventually(lambda: len(receiver.received) == 3)
        summary = await eventually(lambda: receiver.titled("还有 7 条告警被合并"), within=5)
        assert all(f"未匹配的付款：{n}.00 元" in summary[0]["message"] for n in range(3, 10))
        await asyncio.sleep(1.2)  # a whole window later nothing else was sent
    assert len(receiver.received) == 4


async def test_failing_and_hanging_channels_block_nobody_and_never_reach_the_log_unredacted(
    db: Database, settings: Settings, receiver: AlertReceiver
) -> None:
    closed = closed_port_url()
    async with serve_alert_receiver(hang=True, path="/hanging-secret") as hanging:
        settings = settings.model_copy(
            update={"alert_urls": [closed, hanging.url, receiver.url], "alert_send_timeout_seconds": 1.0}
        )
        failed_before = _alerts_total("sent")
        with capture_logs() as logs:
            async with Alerter(db, settings) as alerter:
                started = time.perf_counter()
                for n in range(5):
                    alerter.raise_alert(f"k{n}", f"告警 {n}", "正文")
                assert time.perf_counter() - started < 0.05  # raising only enqueues
                ticks = 0
                for _ in range(20):  # the loop keeps running other work meanwhile
                    await asyncio.sleep(0.01)
                    ticks += 1
                assert ticks == 20
                await eventually(lambda: len(receiver.received) == 5, within=10)
                await eventually(lambda: len([e for e in logs if e["event"] == "alert_channel_failed"]) >= 10, within=10)
                alerter.raise_alert("k-last", "最后一条", "正文")  # the hanging send is in flight at exit
                stopping = time.perf_counter()
        assert time.perf_counter() - stopping < 4.0  # shutdown gives in-flight sends a short grace, then stops
        assert hanging.received == []
    failures = [e for e in logs if e["event"] == "alert_channel_failed"]
    assert {e["channel"] for e in failures} == {"#1 json://…", "#2 json://…"}
    assert {e["outcome"] for e in failures if e["channel"] == "#2 json://…"} == {"timeout"}
    logged = repr(logs)
    assert "secret-hook-path" not in logged and "hanging-secret" not in logged
    assert _alerts_total("sent") - failed_before >= 5  # the third channel took them


async def test_without_urls_alerts_are_only_logged(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"alert_urls": []})
    logged_before = _alerts_total("logged")
    with capture_logs() as logs:
        async with Alerter(db, settings) as alerter:
            assert alerter.report_storage_failure("database or disk is full") is True
            assert alerter.report_storage_failure("database or disk is full") is False
    alerts = [e for e in logs if e["event"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["log_level"] == "info"
    assert alerts[0]["title"] == "数据库写入失败" and "database or disk is full" in alerts[0]["body"]
    assert _alerts_total("logged") - logged_before == 1


async def test_storage_failures_are_reported_again_after_writes_recovered(
    db: Database, settings: Settings, receiver: AlertReceiver
) -> None:
    failed_before = _alerts_total("failed")
    async with Alerter(db, settings) as alerter:
        alerter.report_storage_failure("disk I/O error")
        alerter.report_storage_failure("disk I/O error")
        alerter.storage_recovered()
        alerter.report_storage_failure("database or disk is full")
        await eventually(lambda: len(receiver.received) == 2)
    assert receiver.received[0]["type"] == "failure" and "disk I/O error" in receiver.received[0]["message"]
    assert "df -h" in receiver.received[1]["message"] and str(settings.data_dir) in receiver.received[1]["message"]
    assert _alerts_total("failed") == failed_before


def test_alert_urls_come_from_one_environment_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAPAY_ALERT_URLS", " wecombot://KEY1, tgram://123:abc/456  json://127.0.0.1:9/hook ")
    urls = Settings(_env_file=None).alert_urls  # type: ignore[call-arg]
    assert urls == ["wecombot://KEY1", "tgram://123:abc/456", "json://127.0.0.1:9/hook"]
    monkeypatch.setenv("MAPAY_ALERT_URLS", "")
    assert Settings(_env_file=None).alert_urls == []  # type: ignore[call-arg]


def test_the_admin_settings_page_never_shows_an_alert_url(settings: Settings) -> None:
    from agent.admin.views.settings_page import effective_settings

    settings = settings.model_copy(update={"alert_urls": ["wecombot://BOTKEY123", "json://hooks.example/p/SECRET"]})
    (row,) = [row for row in effective_settings(settings) if row.env == "MAPAY_ALERT_URLS"]
    assert row.value == "#1 wecombot://…, #2 json://…"
