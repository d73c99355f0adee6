"""The gateway both fuzz tests run against: served on a thread, with the known rows and the logs watched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.settings import Settings
from tests.fuzz.harness import GatewayThread, Known, fuzzed_gateway
from tests.support.logs import Logged, watch_logs


@pytest.fixture
def fuzzed(settings: Settings) -> Iterator[tuple[GatewayThread, Known, Logged]]:
    with watch_logs() as logged, fuzzed_gateway(settings) as (thread, known):
        yield thread, known, logged
