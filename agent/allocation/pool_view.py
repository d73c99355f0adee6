"""The allocator's view of the QR pool, kept in memory between write transactions.

Reading the eligible codes (with today's use of capped ones) and the live slots of popular prices costs
far more than placing an order, so the view outlives its transaction. It is trusted only while the
database's allocation epoch (bumped by triggers on every relevant change, whoever makes it) equals the
epoch recorded when the view was last written back; otherwise it is read afresh.

A slot is unavailable while a pending order holds it and, after that order ends, while it is quarantined
(``amount_quarantine``, migration 0008): a payer's second or late payment must find no new order at that
amount. Quarantine ends with time rather than with a write, so the view keeps each slot's end and compares it
with the transaction's clock.

A degraded account's codes are in the view with the end of their grace: the grace ends with time, not
with a write, so the choice itself skips them once it has passed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.accounts.failures import describe
from agent.allocation.amounts import EligibleCode, amount_candidates, choose_slot, scope_key
from agent.errors import AccountsUnavailable, AllocationError, AmountsExhausted, NoCodeAvailable
from agent.orders import slots
from agent.providers.base import HealthState
from agent.settings import Settings

_FIRST_CHUNK = 8  # candidate amounts whose taken slots are read at once; doubles when all are taken

# Why no code can take an order: every account that has an enabled code, with its state.
_UNAVAILABLE_SQL = (
    "SELECT a.name, p.name, a.enabled, a.health, a.failure_class FROM accounts a "
    "JOIN platforms p ON p.id = a.platform_id "
    "WHERE EXISTS (SELECT 1 FROM codes c WHERE c.account_id = a.id AND c.enabled = 1) ORDER BY a.id"
)
_NONE: frozenset[str] = frozenset()
_QUARANTINED_SQL = (
    "SELECT pay_amount_fen, scope, until FROM amount_quarantine WHERE pay_amount_fen BETWEEN ? AND ? AND until > ?"
)


@dataclass(frozen=True, slots=True)
class Slot:
    code: EligibleCode
    pay_amount_fen: int


class PoolView:
    """Eligible codes in rotation order, today's use of capped codes, and the live slots read so far.

    Taken (scope, amount) pairs are read lazily, a few candidate amounts at a time, because the price
    itself is usually free somewhere and reading every offset of every scope would be wasted work.
    """

    def __init__(
        self, codes: list[EligibleCode], used_today: dict[int, int], last_stamp: int, day_start: int,
        settings: Settings, grace_ends: dict[int, int] | None = None,
    ) -> None:
        self._codes = codes  # least recently used first
        self._grace_ends = grace_ends or {}  # code id -> end of its degraded account's grace (ms)
        self._now = 0
        self._unavailable: AllocationError | None = None
        self._scopes = frozenset(code.scope for code in codes)
        self._used = used_today  # capped codes only
        self._last_stamp = last_stamp
        self.day_start = day_start
        self._settings = settings
        self._taken: dict[int, set[str]] = {}  # amount -> scopes holding it
        self._quarantined: dict[int, dict[str, int]] = {}  # amount -> scope -> quarantined until (epoch ms)
        self._quarantine_ms = settings.quarantine_ms
        self._loaded: set[int] = set()
        self._touched: list[int] = []
        self._first_stamp = last_stamp + 1
        self.epoch: int | None = None  # the allocation epoch this view matches, set when written back

    @classmethod
    def load(cls, conn: sqlite3.Connection, day_start: int, settings: Settings) -> PoolView:
        """Read the eligible codes (LRU order) and today's use of the capped ones."""
        rows = slots.eligible_codes(conn, day_start)
        codes = [EligibleCode(row[0], row[1], scope_key(row[1], row[2], bool(row[3])), row[4]) for row in rows]
        used_today = {row[0]: row[6] for row in rows if row[4] is not None}
        grace_ms = int(settings.degraded_grace_seconds * 1000)
        grace_ends = {row[0]: row[7] + grace_ms for row in rows if row[7] is not None}
        return cls(codes, used_today, max((row[5] for row in rows), default=0), day_start, settings, grace_ends)

    def begin(self, now: int) -> None:
        """Start a transaction's work: rotation stamps continue after the latest one, so the order of uses
        survives equal clocks."""
        self._touched = []
        self._first_stamp = max(now, self._last_stamp + 1)
        self._now = now

    def release(self, expired: Iterable[Sequence[Any]]) -> None:
        """Move orders that just expired, given as (scope, pay_amount_fen, code_id, created_at) rows, from
        their live slot into quarantine (the trigger wrote the same into the database)."""
        until = self._now + self._quarantine_ms[1]
        for scope, amount, code_id, created_at in expired:
            self._taken.get(amount, set()).discard(scope)
            if amount in self._loaded:
                self._quarantined.setdefault(amount, {})[scope] = until
            if code_id in self._used and created_at >= self.day_start:
                self._used[code_id] -= amount

    def next(self, conn: sqlite3.Connection, money_fen: int) -> Slot:
        """The best free slot for a price, on healthy codes first, then on degraded ones still in their
        grace: raises AccountsUnavailable (or NoCodeAvailable when there are no codes) or AmountsExhausted."""
        tiers = self._tiers()
        if not tiers:
            raise self._why_unavailable(conn)
        for codes, scopes in tiers:
            slot = self._first_free(conn, money_fen, codes, scopes)
            if slot is not None:
                return slot
        raise AmountsExhausted()

    def _tiers(self) -> list[tuple[list[EligibleCode], frozenset[str]]]:
        """The codes that may take an order now, in rank order, each tier with its scopes."""
        if not self._grace_ends:
            return [(self._codes, self._scopes)] if self._codes else []
        healthy = [code for code in self._codes if code.code_id not in self._grace_ends]
        degraded = [code for code in self._codes if self._grace_ends.get(code.code_id, 0) > self._now]
        return [(codes, frozenset(code.scope for code in codes)) for codes in (healthy, degraded) if codes]

    def _why_unavailable(self, conn: sqlite3.Connection) -> AllocationError:
        if self._unavailable is None:  # the same until the view is reloaded: read once
            reasons = []
            for name, platform, enabled, health, failure_class in conn.execute(_UNAVAILABLE_SQL).fetchall():
                reason = describe(HealthState(health), failure_class, enabled=bool(enabled))
                if reason is not None:
                    reasons.append(f"{name}（{platform}）{reason}")
            self._unavailable = AccountsUnavailable(reasons) if reasons else NoCodeAvailable()
        return self._unavailable

    def _first_free(
        self, conn: sqlite3.Connection, money_fen: int, codes: list[EligibleCode], scopes: frozenset[str]
    ) -> Slot | None:
        start, size = 0, _FIRST_CHUNK
        candidates = self._candidates(money_fen)
        while start < len(candidates):
            chunk = candidates[start:start + size]
            self._load(conn, [chunk])
            # amounts held in every eligible scope are skipped with one set comparison each
            blocked = {amount: self._blocked(amount) for amount in chunk}
            open_amounts = [amount for amount in chunk if not scopes <= blocked[amount]]
            chosen = choose_slot(open_amounts, codes, blocked, self._used)
            if chosen is not None:
                return Slot(*chosen)
            start, size = start + size, size * 2
        return None

    def prefetch(self, conn: sqlite3.Connection, moneys: Iterable[int]) -> None:
        """Read the first chunk of every price of a batch with one query."""
        self._load(conn, [self._candidates(money)[:_FIRST_CHUNK] for money in set(moneys)])

    def _blocked(self, amount: int) -> set[str] | frozenset[str]:
        """Scopes of eligible codes that cannot take ``amount`` now: held by a pending order, or overlapping a
        slot still in quarantine (an account-wide scope and that account's terminal scopes overlap)."""
        taken = self._taken.get(amount, _NONE)
        quarantined = [scope for scope, until in self._quarantined.get(amount, {}).items() if until > self._now]
        if not quarantined:
            return taken
        return taken | {scope for scope in self._scopes if any(_overlap(scope, q) for q in quarantined)}

    def _candidates(self, money_fen: int) -> tuple[int, ...]:
        return amount_candidates(money_fen, self._settings.offset_max_fen, self._settings.offset_direction)

    def _load(self, conn: sqlite3.Connection, chunks: list[tuple[int, ...]]) -> None:
        """Read which scopes hold each not yet loaded amount of ``chunks`` (one range seek per span)."""
        ranges = _merged_ranges([amount for amount in chunk if amount not in self._loaded] for chunk in chunks)
        if not ranges:
            return
        for amount, scopes in slots.taken_slots(conn, ranges):
            self._taken[amount] = set(scopes.split(slots.SCOPE_SEPARATOR))
        quarantined = conn.execute(
            " UNION ALL ".join([_QUARANTINED_SQL] * len(ranges)),
            [value for low, high in ranges for value in (low, high, self._now)],
        ).fetchall()
        for amount, scope, until in quarantined:
            self._quarantined.setdefault(amount, {})[scope] = until
        for low, high in ranges:
            self._loaded.update(range(low, high + 1))

    def use(self, slot: Slot) -> None:
        """Record a placed order: its slot is taken, its code moves to the back of the rotation."""
        code = slot.code
        self.mark_taken(slot)
        if code.daily_cap_fen is not None:
            self._used[code.code_id] = self._used.get(code.code_id, 0) + slot.pay_amount_fen
        self._codes.remove(code)
        self._codes.append(code)
        self._touched.append(code.code_id)

    def mark_taken(self, slot: Slot) -> None:
        self._taken.setdefault(slot.pay_amount_fen, set()).add(slot.code.scope)

    def touched(self) -> list[tuple[int, int]]:
        """(last_used_at, code id) updates with increasing stamps in the order this transaction used codes."""
        stamps = [(self._first_stamp + i, code_id) for i, code_id in enumerate(self._touched)]
        if stamps:
            self._last_stamp = stamps[-1][0]
        return stamps


def _overlap(scope: str, other: str) -> bool:
    """Whether one payment could fit orders of both scopes: the same scope, or an account's terminal-less
    scope ("a1") and one of its terminal scopes ("a1:tT1")."""
    if scope == other:
        return True
    short, long = sorted((scope, other), key=len)
    return long.startswith(short + ":t")


def _merged_ranges(amount_lists: Iterable[list[int]]) -> list[tuple[int, int]]:
    """Non-overlapping (low, high) ranges covering each non-empty list's span."""
    spans = sorted((min(amounts), max(amounts)) for amounts in amount_lists if amounts)
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged
