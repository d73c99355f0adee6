"""Matching: tie provider transactions to orders and confirm them (the writes themselves: their tables' owners)."""

from agent.matching.confirm import (
    Confirmation,
    OrderStateError,
    attach_transaction,
    close_order,
    confirm_order,
    dismiss_transaction,
    expire_overdue,
    flag_duplicates,
    mark_paid,
    match_account,
    record_transactions,
)
from agent.matching.matcher import Assignment, Candidate, Payment, match

__all__ = [
    "Assignment",
    "Candidate",
    "Confirmation",
    "OrderStateError",
    "Payment",
    "attach_transaction",
    "close_order",
    "confirm_order",
    "dismiss_transaction",
    "expire_overdue",
    "flag_duplicates",
    "mark_paid",
    "match",
    "match_account",
    "record_transactions",
]
