"""Properties of the matcher over generated payments and orders crowded into few amounts and terminals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.matching.matcher import Assignment, Candidate, Payment, fits, match

SKEW = 5

accounts = st.integers(1, 2)
amounts = st.integers(100, 103)
terminals = st.sampled_from([None, "T1", "T2"])
channels = st.sampled_from(["alipay", "wxpay"])
times = st.integers(0, 100)


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 12))
    out = []
    for i in range(count):
        created = draw(times)
        out.append(Candidate(
            trade_no=f"O{i}", account_id=draw(accounts), terminal_id=draw(terminals),
            type=draw(st.sampled_from([None, "alipay", "wxpay"])), pay_amount_fen=draw(amounts),
            created_at=created, expires_at=created + draw(st.integers(0, 40)),
        ))
    return out


payment = st.builds(
    Payment, account_id=accounts, trade_no=st.sampled_from([f"P{i}" for i in range(15)]),
    amount_fen=amounts, channel=channels, paid_at=times, terminal_id=terminals, seen_at=times,
)
payments = st.lists(payment, max_size=15)  # may repeat a trade no, as an overlapping page read would
# What the database holds: UNIQUE(account_id, provider_trade_no).
stored_payments = st.lists(payment, max_size=15, unique_by=lambda p: (p.account_id, p.trade_no))


def key(assignments: list[Assignment]) -> list[tuple[int, str, str]]:
    return sorted((a.payment.account_id, a.payment.trade_no, a.order.trade_no) for a in assignments)


@settings(max_examples=300, deadline=None)
@given(payments, candidates())
def test_no_payment_confirms_two_orders_and_no_order_is_confirmed_twice(
    paid: list[Payment], orders: list[Candidate]
) -> None:
    result = match(paid, orders, SKEW)
    assert len({(a.payment.account_id, a.payment.trade_no) for a in result}) == len(result)
    assert len({a.order.trade_no for a in result}) == len(result)
    assert all(fits(a.payment, a.order, SKEW) for a in result)


@settings(max_examples=300, deadline=None)
@given(payments, candidates(), st.randoms())
def test_input_order_does_not_change_the_result(
    paid: list[Payment], orders: list[Candidate], rnd: object
) -> None:
    shuffled_paid, shuffled_orders = list(paid), list(orders)
    rnd.shuffle(shuffled_paid)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_orders)  # type: ignore[attr-defined]
    assert key(match(shuffled_paid, shuffled_orders, SKEW)) == key(match(paid, orders, SKEW))


@settings(max_examples=300, deadline=None)
@given(stored_payments, candidates())
def test_re_reading_the_leftovers_confirms_nothing_more(paid: list[Payment], orders: list[Candidate]) -> None:
    """What a second poll sees (unmatched payments, unconfirmed orders) yields no further assignment."""
    result = match(paid, orders, SKEW)
    used_payments = {(a.payment.account_id, a.payment.trade_no) for a in result}
    used_orders = {a.order.trade_no for a in result}
    left_paid = [p for p in paid if (p.account_id, p.trade_no) not in used_payments]
    left_orders = [o for o in orders if o.trade_no not in used_orders]
    assert match(left_paid, left_orders, SKEW) == []


@settings(max_examples=300, deadline=None)
@given(stored_payments, candidates())
def test_a_payment_left_unmatched_fits_no_free_order(paid: list[Payment], orders: list[Candidate]) -> None:
    result = match(paid, orders, SKEW)
    used_orders = {a.order.trade_no for a in result}
    matched = {(a.payment.account_id, a.payment.trade_no) for a in result}
    for p in paid:
        if (p.account_id, p.trade_no) not in matched:
            assert not any(fits(p, o, SKEW) for o in orders if o.trade_no not in used_orders)
