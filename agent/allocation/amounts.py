"""Pure choice of a (code, payable amount) slot: exact amount on any code first, then 1-fen offsets."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
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


def amount_candidates(money_fen: int, offset_max_fen: int, direction: OffsetDirection) -> list[int]:
    """Payable amounts to try, best first: the price, then 1-fen steps away from it; never zero or below."""
    steps: Iterable[int]
    if direction == "down":
        steps = (-step for step in range(1, offset_max_fen + 1))
    elif direction == "up":
        steps = range(1, offset_max_fen + 1)
    else:
        steps = (signed for step in range(1, offset_max_fen + 1) for signed in (-step, step))
    return [money_fen, *(money_fen + step for step in steps if money_fen + step > 0)]


def choose_slot(
    candidates: Sequence[int],
    codes: Sequence[EligibleCode],
    taken: Collection[tuple[str, int]],
    used_today: Mapping[int, int],
) -> tuple[EligibleCode, int] | None:
    """The first free (scope, amount) in preference order: amount outer, so another code at the exact
    price beats an offset; codes inner in LRU order. A capped code takes an order only if it stays within
    its daily cap."""
    for amount in candidates:
        for code in codes:
            if (code.scope, amount) in taken:
                continue
            cap = code.daily_cap_fen
            if cap is not None and used_today.get(code.code_id, 0) + amount > cap:
                continue
            return code, amount
    return None
