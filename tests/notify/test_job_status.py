"""Every notify job status the outbox writes has a Chinese name for the console and the alerts."""

from __future__ import annotations

from agent.labels import NOTIFY_STATUS
from agent.notify.outbox import JobStatus


def test_every_job_status_has_a_chinese_name() -> None:
    assert set(NOTIFY_STATUS) == {status.value for status in JobStatus}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in NOTIFY_STATUS.values())
