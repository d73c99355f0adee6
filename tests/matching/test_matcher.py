"""Each matching rule of platforms.md, one example at a time, on the pure matcher."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.matching.matcher import Candidate, Payment, match

SKEW = 30_000
T0 = 1_700_000_000_000


def order(trade_no: str = "O1", **changes: Any) -> Candidate:
    base = Candidate(
        trade_no=trade_no, account_id=1, terminal_id="T1", type="alipay", pay_amount_fen=1000,
        created_at=T0, expires_at=T0 + 300_000,
    )
    return replace(base, **changes)


def payment(trade_no: str = "P1", **changes: Any) -> Payment:
    base = Payment(account_id=1, trade_no=trade_no, amount_fen=1000, channel="alipay", paid_at=T0 + 60_000,
                   terminal_id="T1", seen_at=T0 + 63_000)
    return replace(base, **changes)


def pairs(payments: list[Payment], candidates: list[Candidate]) -> list[tuple[str, str]]:
    return [(a.payment.trade_no, a.order.trade_no) for a in match(payments, candidates, SKEW)]


def test_exact_fit_matches() -> None:
    assert pairs([payment()], [order()]) == [("P1", "O1")]


def test_amount_must_be_equal_to_the_pay_amount() -> None:
    assert pairs([payment(amount_fen=999)], [order()]) == []
    assert pairs([payment(amount_fen=1001)], [order()]) == []


def test_account_must_be_the_same() -> None:
    assert pairs([payment(account_id=2)], [order()]) == []


def test_terminal_must_agree_when_both_sides_have_one() -> None:
    assert pairs([payment(terminal_id="T2")], [order()]) == []
    assert pairs([payment(terminal_id=None)], [order()]) == [("P1", "O1")]
    assert pairs([payment(terminal_id="T9")], [order(terminal_id=None)]) == [("P1", "O1")]


def test_an_order_on_the_payments_own_terminal_beats_one_without_a_terminal() -> None:
    # The terminal-less code's order was created closer to paid_at, but the record names T1's plate.
    on_t1 = order("O-T1", created_at=T0)
    anywhere = order("O-ANY", terminal_id=None, created_at=T0 + 50_000)
    assert pairs([payment()], [on_t1, anywhere]) == [("P1", "O-T1")]
    assert pairs([payment("P2", terminal_id="T7")], [on_t1, anywhere]) == [("P2", "O-ANY")]


def test_channel_must_equal_the_order_type_when_set() -> None:
    assert pairs([payment(channel="wxpay")], [order()]) == []
    assert pairs([payment(channel="wxpay")], [order(type=None)]) == [("P1", "O1")]
    assert pairs([payment(channel="wxpay")], [order(type="wxpay")]) == [("P1", "O1")]


def test_paid_at_window_includes_the_skew_at_both_ends() -> None:
    start, end = T0 - SKEW, T0 + 300_000 + SKEW
    assert pairs([payment(paid_at=start)], [order()]) == [("P1", "O1")]
    assert pairs([payment(paid_at=end)], [order()]) == [("P1", "O1")]
    assert pairs([payment(paid_at=start - 1)], [order()]) == []
    assert pairs([payment(paid_at=end + 1)], [order()]) == []


def test_the_order_created_closest_to_paid_at_wins() -> None:
    older = order("OLD", created_at=T0 - 200_000, expires_at=T0 + 100_000)
    newer = order("NEW", created_at=T0 + 50_000)
    assert pairs([payment(paid_at=T0 + 60_000)], [older, newer]) == [("P1", "NEW")]
    assert pairs([payment(paid_at=T0 - 100_000)], [older, newer]) == [("P1", "OLD")]


def test_equal_distance_ties_go_to_the_lower_trade_no() -> None:
    a, b = order("A", terminal_id=None), order("B", terminal_id="T2")
    assert pairs([payment(terminal_id=None)], [b, a]) == [("P1", "A")]


def test_each_order_is_confirmed_at_most_once() -> None:
    first, second = payment("P1", paid_at=T0 + 10_000), payment("P2", paid_at=T0 + 20_000)
    assert pairs([second, first], [order()]) == [("P1", "O1")]


def test_a_second_payment_takes_the_next_best_order() -> None:
    older = order("OLD", created_at=T0 - 100_000, terminal_id=None)
    newer = order("NEW", created_at=T0, terminal_id=None)
    got = pairs([payment("P1", paid_at=T0 + 1_000), payment("P2", paid_at=T0 + 2_000)], [older, newer])
    assert got == [("P1", "NEW"), ("P2", "OLD")]


def test_a_trade_no_read_twice_confirms_one_order() -> None:
    twice = [payment("P1"), payment("P1")]
    two_orders = [order("O1", terminal_id=None), order("O2", terminal_id=None, created_at=T0 + 1)]
    assert len(pairs(twice, two_orders)) == 1


def test_the_same_trade_no_on_two_accounts_is_two_payments() -> None:
    got = pairs([payment(account_id=1), payment(account_id=2)], [order("O1"), order("O2", account_id=2)])
    assert sorted(got) == [("P1", "O1"), ("P1", "O2")]


def test_payments_are_taken_by_paid_at_then_trade_no() -> None:
    same_time = [payment("P2"), payment("P1")]
    assert pairs(same_time, [order()]) == [("P1", "O1")]
    assert pairs([payment("P1", paid_at=T0 + 9), payment("P0", paid_at=T0 + 10)], [order()]) == [("P1", "O1")]


def test_unmatched_payments_are_absent_from_the_result() -> None:
    assert pairs([payment(amount_fen=1), payment("P2")], [order()]) == [("P2", "O1")]


def test_a_payment_read_before_the_order_existed_cannot_confirm_it() -> None:
    # Paid within the skew before creation: a provider clock running ahead. Read before it existed: a stray.
    early = payment(paid_at=T0 - 10_000, seen_at=T0 + 3_000)
    assert pairs([early], [order()]) == [("P1", "O1")]
    assert pairs([replace(early, seen_at=T0 - 1)], [order()]) == []
