"""Allocation: choose a QR code and a payable amount unique within its matching scope."""

from agent.allocation.allocator import (
    AllocationError,
    Allocator,
    AmountsExhausted,
    DuplicateOutTradeNo,
    NoCodeAvailable,
    OrderDraft,
)
from agent.allocation.amounts import scope_key

__all__ = [
    "AllocationError",
    "Allocator",
    "AmountsExhausted",
    "DuplicateOutTradeNo",
    "NoCodeAvailable",
    "OrderDraft",
    "scope_key",
]
