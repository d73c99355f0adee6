"""Pure choice of a (code, payable amount) slot: exact amount on any code first, then 1-fen offsets."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Literal

OffsetDirection = Literal["down", "up", "both"]


@dataclass(frozen=True, slots=True)
class EligibleCode:
    """A code that may take an order now, in least-recently-used order, with its matching scope."""

    code_id: int
    account_id: int
    scope: str
    daily_cap_fen: int | None


def scope_key(account_id: int, terminal_id: str | None, platform_has_terminal: bool) -> str:
    """Orders the provider's records cannot tell apart share a scope: the account, or account + terminal.

    The matcher computes the same key from a provider transaction (account id + its terminal id).
    """
    if platform_has_terminal and terminal_id:
        return f"a{account_id}:t{terminal_id}"
    return f"a{account_id}"


@functools.lru_cache(maxsize=4096)
def amount_candidates(money_fen: int, offset_max_fen: int, direction: OffsetDirection) -> tuple[int, ...]:
    """Payable amounts to try, best first: the price, then 1-fen steps away from it; never zero or below."""
    below = range(money_fen - 1, max(money_fen - offset_max_fen, 1) - 1, -1)
    above = range(money_fen + 1, money_fen + offset_max_fen + 1)
    if direction == "down":
        return (money_fen, *below)
    if direction == "up":
        return (money_fen, *above)
    alternating = (amount for pair in zip_longest(below, above) for amount in pair if amount is not None)
    return (money_fen, *alternating)


def choose_slot(
    candidates: Sequence[int],
    codes: Sequence[EligibleCode],
    taken: Mapping[int, Collection[str]],
    used_today: Mapping[int, int],
) -> tuple[EligibleCode, int] | None:
    """The first free (scope, amount) in preference order: amount outer, so another code at the exact
    price beats an offset; codes inner in LRU order. ``taken`` maps an amount to the scopes holding it.
    A capped code takes an order only if it stays within its daily cap."""
    for amount in candidates:
        taken_scopes = taken.get(amount, ())
        for code in codes:
            if code.scope in taken_scopes:
                continue
            cap = code.daily_cap_fen
            if cap is not None and used_today.get(code.code_id, 0) + amount > cap:
                continue
            return code, amount
    return None
