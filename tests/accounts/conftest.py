"""Account-life tests: the polling tests' app and in-process back office, with short probes as well."""

from __future__ import annotations

import pytest

from agent.settings import Settings
from tests.polling.conftest import gateway, office

__all__ = ["gateway", "office"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "poll_interval_seconds": 0.05, "poll_idle_interval_seconds": 0.3, "poll_backoff_max_seconds": 0.4,
        "probe_backoff_first_seconds": 0.1, "probe_backoff_max_seconds": 0.5,
        "expiry_sweep_seconds": 0.1, "notify_schedule": (0, 1),
    })
