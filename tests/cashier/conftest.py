"""Cashier tests start with one QR code in the pool, rendered from its payload."""

from __future__ import annotations

import pytest

from agent.codes import Code
from tests.cashier.orders import add_code
from tests.support.gateway import RunningGateway


@pytest.fixture
async def code(gateway: RunningGateway) -> Code:
    return await add_code(gateway)
