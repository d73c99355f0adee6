"""Suite-wide fixtures: isolated settings per test, a real Chromium for browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.browser.launch import LAUNCH_ARGS, find_chromium
from agent.merchants import Merchant
from agent.settings import Settings
from tests.support.gateway import RunningGateway, running_gateway


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium with the offline-friendly flags; never skip when it is missing: fail."""
    executable = find_chromium(headless=browser_type_launch_args.get("headless", True))
    args = {**browser_type_launch_args, "args": list(LAUNCH_ARGS)}
    if executable is not None:
        args["executable_path"] = str(executable)
    return args


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Per-test settings: ``@pytest.mark.parametrize("settings_overrides", [{...}])``."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        secret_key=SecretStr(Fernet.generate_key().decode()),
        host="127.0.0.1",
        port=0,
        browser_agent=False,  # tests that read back offices pass their own factory or switch it on
    ).model_copy(update=settings_overrides)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings) as running:
        yield running


@pytest.fixture
async def merchant(gateway: RunningGateway) -> Merchant:
    from agent.appkeys import MERCHANTS

    return await gateway.app[MERCHANTS].create("测试商户")
