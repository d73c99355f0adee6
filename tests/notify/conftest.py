"""Notify tests run on a tiny retry schedule and a short per-attempt timeout."""

from __future__ import annotations

import pytest

from agent.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"notify_schedule": (0, 0, 1, 1), "notify_timeout_seconds": 0.5})
