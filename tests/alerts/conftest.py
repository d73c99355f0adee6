"""Alert tests: the gateway's alerts go to a loopback JSON receiver, and the watcher looks often."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.settings import Settings
from tests.support.alert_receiver import AlertReceiver, serve_alert_receiver

CHECK_SECONDS = 0.1
ROUNDS_SECONDS = 0.6  # several watcher rounds: long enough for a repeat to have shown up


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    async with serve_alert_receiver() as running:
        yield running


@pytest.fixture
def settings(settings: Settings, receiver: AlertReceiver) -> Settings:
    return settings.model_copy(
        update={"alert_urls": [receiver.url], "alert_check_seconds": CHECK_SECONDS, "alert_degraded_after_seconds": 60}
    )
