"""Intake tests run against a gateway with one ready code unless they build their own pool."""

from __future__ import annotations

import pytest

from agent.codes import Code
from tests.allocation.pool_setup import add_code
from tests.support.gateway import RunningGateway


@pytest.fixture
async def code(gateway: RunningGateway) -> Code:
    return await add_code(gateway, terminal_id="T1")
