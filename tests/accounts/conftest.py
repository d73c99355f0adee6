"""Account-life tests: the real app with an in-process back office, short polls, probes and grace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.settings import Settings
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "poll_interval_seconds": 0.05, "poll_idle_interval_seconds": 0.3, "poll_backoff_max_seconds": 0.4,
        "probe_backoff_first_seconds": 0.1, "probe_backoff_max_seconds": 0.5,
        "expiry_sweep_seconds": 0.1, "notify_schedule": (0, 1),
    })


@pytest.fixture
def office() -> MemoryBackOffice:
    return MemoryBackOffice()


@pytest.fixture
async def gateway(settings: Settings, office: MemoryBackOffice) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings, provider_factory=office) as running:
        yield running
