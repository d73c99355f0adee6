"""The matcher: a pure function from provider payments and candidate orders to confirmations.

No I/O and no clock: the same inputs in any order give the same assignments, so re-reading a provider's
records can never confirm anything twice or differently (platforms.md, "Matching rules").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Payment:
    """A provider transaction not yet tied to an order (times in epoch ms, money in fen)."""

    account_id: int
    trade_no: str  # the provider's trade number, unique per account
    amount_fen: int
    channel: str  # a Channel value, comparable to an order's epay type
    paid_at: int
    terminal_id: str | None
    seen_at: int  # when we first read it (our clock): an order created after that was not what it paid for


@dataclass(frozen=True, slots=True)
class Candidate:
    """An order a payment may confirm: pending, or expired recently enough for a late payment."""

    trade_no: str
    account_id: int
    terminal_id: str | None  # the terminal / QR plate of the order's code, when known
    type: str | None  # the epay type; None accepts any channel
    pay_amount_fen: int
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Assignment:
    payment: Payment
    order: Candidate


def fits(payment: Payment, order: Candidate, skew_ms: int) -> bool:
    """Whether ``payment`` may confirm ``order`` by every rule except "each at most once".

    The skew lets a provider's clock run ahead of ours, but a payment we had already read before the order
    existed was made for something else (a stray or duplicate payment), whatever its paid_at says.
    """
    return (
        payment.account_id == order.account_id
        and payment.amount_fen == order.pay_amount_fen
        and (payment.terminal_id is None or order.terminal_id is None or payment.terminal_id == order.terminal_id)
        and (order.type is None or order.type == payment.channel)
        and order.created_at - skew_ms <= payment.paid_at <= order.expires_at + skew_ms
        and order.created_at <= payment.seen_at
    )


def _processing_order(payment: Payment) -> tuple[int, int, str, int, str, str, int]:
    """Payments are taken by paid_at, then trade no; the rest only makes duplicates deterministic."""
    return (
        payment.paid_at, payment.account_id, payment.trade_no,
        payment.amount_fen, payment.channel, payment.terminal_id or "", payment.seen_at,
    )


class _CandidateIndex:
    """Candidates by (account, amount), and by (account, terminal, amount) for payments that name a terminal."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._by_amount: dict[tuple[int, int], list[Candidate]] = defaultdict(list)
        self._by_terminal: dict[tuple[int, str | None, int], list[Candidate]] = defaultdict(list)
        for order in candidates:
            self._by_amount[order.account_id, order.pay_amount_fen].append(order)
            self._by_terminal[order.account_id, order.terminal_id, order.pay_amount_fen].append(order)

    def around(self, payment: Payment) -> list[Candidate]:
        if payment.terminal_id is None:
            return self._by_amount.get((payment.account_id, payment.amount_fen), [])
        return [
            *self._by_terminal.get((payment.account_id, payment.terminal_id, payment.amount_fen), ()),
            *self._by_terminal.get((payment.account_id, None, payment.amount_fen), ()),
        ]


def match(payments: Iterable[Payment], candidates: Iterable[Candidate], skew_ms: int) -> list[Assignment]:
    """Assign each payment at most one order and each order at most one payment.

    Payments are processed by paid_at then trade no; each takes, among the orders it fits and that are
    still free, the one on the payment's own terminal, else created closest to paid_at (ties: the lower
    trade_no). Payments that fit nothing
    are simply absent from the result and stay unmatched for manual review. Duplicate payments (the same
    trade no of the same account read twice) count once.
    """
    index = _CandidateIndex(candidates)
    taken: set[str] = set()
    seen: set[tuple[int, str]] = set()
    assignments: list[Assignment] = []
    for payment in sorted(payments, key=_processing_order):
        if (payment.account_id, payment.trade_no) in seen:
            continue
        seen.add((payment.account_id, payment.trade_no))
        best: Candidate | None = None
        for order in index.around(payment):
            if order.trade_no in taken or not fits(payment, order, skew_ms):
                continue
            if best is None or _closeness(payment, order) < _closeness(payment, best):
                best = order
        if best is not None:
            taken.add(best.trade_no)
            assignments.append(Assignment(payment, best))
    return assignments


def _closeness(payment: Payment, order: Candidate) -> tuple[bool, int, str]:
    """An order on the payment's own terminal beats one whose code has no terminal id, then time decides.

    A code without a terminal id is scoped to its whole account, so its order may share an amount with an
    order on a named terminal; the record's terminal tells them apart.
    """
    return order.terminal_id != payment.terminal_id, abs(payment.paid_at - order.created_at), order.trade_no
