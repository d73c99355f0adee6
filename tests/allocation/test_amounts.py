"""The pure slot choice: candidate amounts, preference order, caps, scopes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.allocation.amounts import EligibleCode, OffsetDirection, amount_candidates, choose_slot, scope_key


def test_down_steps_one_fen_below_the_price() -> None:
    assert amount_candidates(1000, 3, "down") == (1000, 999, 998, 997)


def test_up_steps_one_fen_above_the_price() -> None:
    assert amount_candidates(1000, 3, "up") == (1000, 1001, 1002, 1003)


def test_both_alternates_below_then_above() -> None:
    assert amount_candidates(1000, 2, "both") == (1000, 999, 1001, 998, 1002)


def test_near_zero_both_continues_upwards() -> None:
    assert amount_candidates(2, 3, "both") == (2, 1, 3, 4, 5)


def test_no_offset_means_only_the_price() -> None:
    assert amount_candidates(1000, 0, "both") == (1000,)


@given(
    money=st.integers(min_value=1, max_value=100_000_000),
    offset=st.integers(min_value=0, max_value=999),
    direction=st.sampled_from(["down", "up", "both"]),
)
def test_candidates_are_distinct_positive_within_range_and_start_at_the_price(
    money: int, offset: int, direction: OffsetDirection
) -> None:
    candidates = amount_candidates(money, offset, direction)
    assert candidates[0] == money
    assert len(set(candidates)) == len(candidates)
    assert all(c > 0 and abs(c - money) <= offset for c in candidates)
    if direction == "down":
        assert all(c <= money for c in candidates)
    if direction == "up":
        assert all(c >= money for c in candidates)


A = EligibleCode(1, 10, "a10", None)
B = EligibleCode(2, 20, "a20", None)


def test_another_code_at_the_exact_price_beats_an_offset() -> None:
    assert choose_slot([100, 99], [A, B], {100: {"a10"}}, {}) == (B, 100)


def test_least_recently_used_code_first_when_all_are_free() -> None:
    assert choose_slot([100, 99], [B, A], {}, {}) == (B, 100)


def test_offset_when_the_price_is_taken_everywhere() -> None:
    assert choose_slot([100, 99], [A, B], {100: {"a10", "a20"}}, {}) == (A, 99)


def test_nothing_free_is_none() -> None:
    assert choose_slot([100], [A], {100: {"a10"}}, {}) is None


def test_a_capped_code_takes_only_what_fits_in_its_day() -> None:
    capped = EligibleCode(3, 30, "a30", 1000)
    assert choose_slot([100], [capped, B], {}, {3: 900}) == (capped, 100)
    assert choose_slot([100], [capped, B], {}, {3: 901}) == (B, 100)


def test_scope_is_account_plus_terminal_only_when_records_carry_it() -> None:
    assert scope_key(12, "T001", platform_has_terminal=True) == "a12:tT001"
    assert scope_key(12, None, platform_has_terminal=True) == "a12"
    assert scope_key(12, "T001", platform_has_terminal=False) == "a12"
