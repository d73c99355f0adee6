"""Allocation: choose a QR code and a payable amount unique within its matching scope."""

from agent.allocation.allocator import Allocator, OrderDraft
from agent.allocation.amounts import scope_key
from agent.errors import (
    AccountsUnavailable,
    AllocationError,
    AmountsExhausted,
    DuplicateOutTradeNo,
    NoCodeAvailable,
)

__all__ = [
    "AccountsUnavailable",
    "AllocationError",
    "Allocator",
    "AmountsExhausted",
    "DuplicateOutTradeNo",
    "NoCodeAvailable",
    "OrderDraft",
    "scope_key",
]
