"""``mapay alert test``: a deployer checks the channels just configured, as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from agent.settings import Settings
from tests.support.alert_receiver import AlertReceiver, closed_port_url


def _env(settings: Settings, urls: str) -> dict[str, str]:
    assert settings.secret_key is not None
    return {
        **os.environ,
        "MAPAY_DATA_DIR": str(settings.data_dir),
        "MAPAY_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MAPAY_ALERT_URLS": urls,
        "MAPAY_ALERT_SEND_TIMEOUT_SECONDS": "5",
    }


async def _mapay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """In a thread: the receiver answering the command runs on this test's event loop."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "agent", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_alert_test_reports_each_url_and_the_owner_receives_the_test_alert(
    settings: Settings, receiver: AlertReceiver
) -> None:
    closed = closed_port_url()
    result = await _mapay(_env(settings, f"{receiver.url},{closed}"), "alert", "test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("#1 json://…") and "发送成功" in line for line in lines), result.stdout
    assert any(line.startswith("#2 json://…") and "发送失败" in line for line in lines), result.stdout
    assert "secret-hook-path" not in result.stdout + result.stderr
    assert [alert["title"] for alert in receiver.received] == ["mapay 测试告警"]


async def test_alert_test_as_json_and_failing_when_no_channel_takes_it(settings: Settings) -> None:
    result = await _mapay(_env(settings, f"{closed_port_url()} nosuchscheme://x"), "--json", "alert", "test")
    assert result.returncode == 1
    assert [(row["channel"], row["outcome"]) for row in json.loads(result.stdout)] == [
        ("#1 json://…", "failed"), ("#2 nosuchscheme://…", "invalid"),
    ]
    assert "全部发送失败" in result.stderr


async def test_alert_test_without_urls_says_so_in_one_line(settings: Settings) -> None:
    result = await _mapay(_env(settings, ""), "alert", "test")
    assert result.returncode == 1
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("注意：")]  # new database
    assert lines == ["错误：未配置告警通道：请设置 MAPAY_ALERT_URLS（Apprise URL，多个用空格或逗号分隔）"]
