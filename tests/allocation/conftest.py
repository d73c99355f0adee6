"""Allocation tests may change settings per test: ``@pytest.mark.parametrize("settings_overrides", [...])``."""

from __future__ import annotations

from typing import Any

import pytest

from agent.settings import Settings


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: Settings, settings_overrides: dict[str, Any]) -> Settings:
    return settings.model_copy(update=settings_overrides)
