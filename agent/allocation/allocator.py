"""Order placement: sweep expired orders, pick a code and a unique payable amount, write the order.

Concurrent requests are placed in batches: while one write transaction runs, new drafts queue up and
the next transaction places all of them (group commit). Each batch is one transaction, so every choice
is made on the data it is written against; the unique partial index ``orders_live_amount`` is the
backstop should another process write meanwhile (the refused slot is marked taken and the next tried).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import aiosqlite
import structlog

from agent.allocation.amounts import EligibleCode, amount_candidates, choose_slot, scope_key
from agent.allocation.clock import shanghai_day_start_ms
from agent.allocation.trade_no import new_trade_no, new_trade_nos
from agent.db import Database, now_ms
from agent.orders import Order, OrderStatus
from agent.settings import Settings

log = structlog.get_logger(__name__)

_MAX_BATCH = 64
_FIRST_CHUNK = 8  # candidate amounts whose taken slots are read at once; doubles when all are taken

_SWEEP_SQL = "UPDATE orders SET status = 'expired' WHERE status = 'pending' AND expires_at < ?"
_ELIGIBLE_SQL = (
    "SELECT c.id, c.account_id, c.terminal_id, p.has_terminal, c.daily_cap_fen, c.last_used_at, "
    # today's (China time) paid and pending pay amounts, for capped codes only
    "CASE WHEN c.daily_cap_fen IS NULL THEN 0 ELSE (SELECT coalesce(sum(o.pay_amount_fen), 0) FROM orders o "
    "WHERE o.code_id = c.id AND o.created_at >= ? AND o.status IN ('pending', 'paid')) END "
    "FROM codes c JOIN accounts a ON a.id = c.account_id JOIN platforms p ON p.id = a.platform_id "
    "WHERE c.enabled = 1 AND a.enabled = 1 AND a.health = 'ok' ORDER BY c.last_used_at, c.id"
)
_INSERT_SQL = (
    "INSERT INTO orders (trade_no, pid, out_trade_no, type, name, money_fen, pay_amount_fen, code_id, "
    "account_id, scope, status, created_at, expires_at, param, notify_url, return_url, clientip, device, "
    "sitename) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)"
)
_RENEW_SQL = (
    "UPDATE orders SET status = 'pending', pay_amount_fen = ?, code_id = ?, account_id = ?, scope = ?, "
    "created_at = ?, expires_at = ? WHERE trade_no = ? AND status = 'expired'"
)
_TOUCH_SQL = "UPDATE codes SET last_used_at = ? WHERE id = ?"
# Scopes never contain the unit separator; were one to, the unique index would still refuse the clash.
_SEPARATOR = "\x1f"
_NONE: frozenset[str] = frozenset()
_TAKEN_SQL = (
    "SELECT pay_amount_fen, group_concat(scope, char(31)) FROM orders INDEXED BY orders_live_by_amount "
    "WHERE status = 'pending' AND pay_amount_fen BETWEEN ? AND ? GROUP BY pay_amount_fen"
)


class AllocationError(Exception):
    """No order can be placed now; ``str(exc)`` is a Chinese message fit for the merchant."""


class NoCodeAvailable(AllocationError):
    def __init__(self) -> None:
        super().__init__("暂无可用的收款码，请稍后再试")


class AmountsExhausted(AllocationError):
    def __init__(self) -> None:
        super().__init__("该金额的可用收款名额已满，请稍后再试或更换金额")


class DuplicateOutTradeNo(Exception):
    """The merchant's order number already has an order: the caller applies the re-use rules."""


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """A validated merchant request, before it has a code, a payable amount and a trade_no."""

    pid: int
    out_trade_no: str
    type: str | None
    name: str
    money_fen: int
    notify_url: str
    return_url: str = ""
    param: str = ""
    clientip: str = ""
    device: str = "pc"
    sitename: str = ""


@dataclass(frozen=True, slots=True)
class _Slot:
    code: EligibleCode
    pay_amount_fen: int


_Outcome = Order | AllocationError | DuplicateOutTradeNo
_Queued = tuple[OrderDraft, "asyncio.Future[Order]"]


class Allocator:
    """Places orders on the QR pool; the only writer of new pending orders."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._queue: list[_Queued] = []
        self._drainer: asyncio.Task[None] | None = None

    async def create(self, draft: OrderDraft) -> Order:
        """Insert a new pending order; raises AllocationError or DuplicateOutTradeNo."""
        future: asyncio.Future[Order] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def renew(self, expired: Order) -> Order | None:
        """Give an expired order a fresh slot and lifetime under the same trade_no (the merchant re-sent it).

        Returns None when the order is no longer expired (it was paid or renewed meanwhile).
        """
        async with self._db.transaction() as conn:
            now = now_ms()
            slots = await self._slot_finder(conn, now)
            while True:
                slot = await slots.next(conn, expired.money_fen)
                order = self._order(expired, expired.trade_no, slot, now)
                try:
                    cursor = await conn.execute(
                        _RENEW_SQL,
                        (order.pay_amount_fen, slot.code.code_id, slot.code.account_id, slot.code.scope,
                         now, order.expires_at, order.trade_no),
                    )
                except sqlite3.IntegrityError as exc:
                    _resolve_clash(exc, slots, slot, order.trade_no, now)
                    continue
                if cursor.rowcount == 0:
                    return None
                slots.use(slot)
                await conn.executemany(_TOUCH_SQL, slots.touched())
                return order

    async def _drain(self) -> None:
        """Place queued drafts batch after batch until the queue is empty."""
        batch: list[_Queued] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
                try:
                    outcomes: list[_Outcome | Exception] = list(await self._place_batch([d for d, _ in batch]))
                except Exception as exc:  # the transaction failed as a whole: every caller hears why
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, Order):
                        log.info(
                            "order_created", trade_no=outcome.trade_no, pid=outcome.pid,
                            account_id=outcome.account_id, code_id=outcome.code_id,
                            pay_amount_fen=outcome.pay_amount_fen,
                        )
                        future.set_result(outcome)
                    else:
                        future.set_exception(outcome)
        finally:  # normally a no-op; when cancelled (shutdown), nobody is left waiting forever
            self._drainer = None
            for _, future in [*batch, *self._queue]:
                if not future.done():
                    future.cancel()
            self._queue = []

    async def _place_batch(self, drafts: list[OrderDraft]) -> list[_Outcome]:
        """All drafts with one multi-row insert. Should the database refuse a row (a re-used out_trade_no, a
        clash with another process), the batch is rolled back and placed again one insert at a time."""
        try:
            return await self._place(drafts, one_by_one=False)
        except sqlite3.IntegrityError:
            return await self._place(drafts, one_by_one=True)

    async def _place(self, drafts: list[OrderDraft], *, one_by_one: bool) -> list[_Outcome]:
        async with self._db.transaction() as conn:
            now = now_ms()
            try:
                slots = await self._slot_finder(conn, now)
            except NoCodeAvailable as exc:
                return [exc] * len(drafts)
            await slots.prefetch(conn, [draft.money_fen for draft in drafts])
            trade_nos = new_trade_nos(now, len(drafts))
            if one_by_one:
                outcomes = [await self._insert(conn, slots, d, t, now) for d, t in zip(drafts, trade_nos, strict=True)]
            else:
                outcomes = [await self._choose(conn, slots, d, t, now) for d, t in zip(drafts, trade_nos, strict=True)]
                await conn.executemany(_INSERT_SQL, [_insert_params(o) for o in outcomes if isinstance(o, Order)])
            await conn.executemany(_TOUCH_SQL, slots.touched())
        return outcomes

    async def _choose(
        self, conn: aiosqlite.Connection, slots: _SlotFinder, draft: OrderDraft, trade_no: str, now: int
    ) -> _Outcome:
        try:
            slot = await slots.next(conn, draft.money_fen)
        except AmountsExhausted as exc:
            return exc
        slots.use(slot)
        return self._order(draft, trade_no, slot, now)

    async def _insert(
        self, conn: aiosqlite.Connection, slots: _SlotFinder, draft: OrderDraft, trade_no: str, now: int
    ) -> _Outcome:
        while True:
            try:
                slot = await slots.next(conn, draft.money_fen)
                order = self._order(draft, trade_no, slot, now)
                try:
                    await conn.execute(_INSERT_SQL, _insert_params(order))
                except sqlite3.IntegrityError as exc:
                    trade_no = _resolve_clash(exc, slots, slot, trade_no, now)
                    continue
            except (AllocationError, DuplicateOutTradeNo) as refused:
                return refused
            slots.use(slot)
            return order

    async def _slot_finder(self, conn: aiosqlite.Connection, now: int) -> _SlotFinder:
        """Expire stale orders, then load the eligible codes (LRU order) and today's use of capped ones."""
        await conn.execute(_SWEEP_SQL, (now - self._settings.match_skew_seconds * 1000,))
        rows = await conn.execute_fetchall(_ELIGIBLE_SQL, (shanghai_day_start_ms(now),))
        if not rows:
            raise NoCodeAvailable()
        codes = [EligibleCode(row[0], row[1], scope_key(row[1], row[2], bool(row[3])), row[4]) for row in rows]
        used_today = {row[0]: row[6] for row in rows if row[4] is not None}
        # Rotation stamps continue after the latest one, so the order of uses survives equal clocks.
        first_stamp = max(now, max(row[5] for row in rows) + 1)
        return _SlotFinder(codes, used_today, first_stamp, self._settings)

    def _order(self, draft: OrderDraft | Order, trade_no: str, slot: _Slot, now: int) -> Order:
        return Order(
            trade_no=trade_no, pid=draft.pid, out_trade_no=draft.out_trade_no, type=draft.type,
            name=draft.name, money_fen=draft.money_fen, pay_amount_fen=slot.pay_amount_fen,
            code_id=slot.code.code_id, account_id=slot.code.account_id, scope=slot.code.scope,
            status=OrderStatus.PENDING, created_at=now, expires_at=now + self._settings.order_ttl_seconds * 1000,
            paid_at=None, provider_trade_no=None, param=draft.param, notify_url=draft.notify_url,
            return_url=draft.return_url, clientip=draft.clientip, device=draft.device, sitename=draft.sitename,
        )


def _resolve_clash(exc: sqlite3.IntegrityError, slots: _SlotFinder, slot: _Slot, trade_no: str, now: int) -> str:
    """React to a unique-constraint failure; returns the trade_no to try next."""
    message = str(exc)
    if "orders.scope" in message:
        log.warning("live_amount_clash", scope=slot.code.scope, pay_amount_fen=slot.pay_amount_fen)
        slots.mark_taken(slot)
        return trade_no
    if "orders.out_trade_no" in message:
        raise DuplicateOutTradeNo() from exc
    if "orders.trade_no" in message:
        return new_trade_no(now)
    raise exc


class _SlotFinder:
    """The pool as one transaction sees it: hands out the best free slot and remembers what it gave.

    Taken (scope, amount) pairs are read lazily, a few candidate amounts at a time, because the price
    itself is usually free somewhere and reading every offset of every scope would be wasted work.
    """

    def __init__(
        self, codes: list[EligibleCode], used_today: dict[int, int], first_stamp: int, settings: Settings
    ) -> None:
        self._codes = codes  # least recently used first
        self._scopes = frozenset(code.scope for code in codes)
        self._first_stamp = first_stamp
        self._used = used_today
        self._settings = settings
        self._taken: dict[int, set[str]] = {}  # amount -> scopes holding it
        self._loaded: set[int] = set()
        self._touched: list[int] = []

    async def next(self, conn: aiosqlite.Connection, money_fen: int) -> _Slot:
        start, size = 0, _FIRST_CHUNK
        candidates = self._candidates(money_fen)
        while start < len(candidates):
            chunk = candidates[start:start + size]
            await self._load(conn, [chunk])
            # amounts held in every eligible scope are skipped with one set comparison each
            open_amounts = [amount for amount in chunk if not self._scopes <= self._taken.get(amount, _NONE)]
            chosen = choose_slot(open_amounts, self._codes, self._taken, self._used)
            if chosen is not None:
                return _Slot(*chosen)
            start, size = start + size, size * 2
        raise AmountsExhausted()

    async def prefetch(self, conn: aiosqlite.Connection, moneys: list[int]) -> None:
        """Read the first chunk of every price of a batch with one query."""
        await self._load(conn, [self._candidates(money)[:_FIRST_CHUNK] for money in set(moneys)])

    def _candidates(self, money_fen: int) -> tuple[int, ...]:
        return amount_candidates(money_fen, self._settings.offset_max_fen, self._settings.offset_direction)

    async def _load(self, conn: aiosqlite.Connection, chunks: list[tuple[int, ...]]) -> None:
        """Read which scopes hold each not yet loaded amount of ``chunks`` (one range seek per span)."""
        ranges = _merged_ranges([amount for amount in chunk if amount not in self._loaded] for chunk in chunks)
        if not ranges:
            return
        rows = await conn.execute_fetchall(
            " UNION ALL ".join([_TAKEN_SQL] * len(ranges)), [bound for span in ranges for bound in span]
        )
        for amount, scopes in rows:
            self._taken[amount] = set(scopes.split(_SEPARATOR))
        for low, high in ranges:
            self._loaded.update(range(low, high + 1))

    def use(self, slot: _Slot) -> None:
        """Record a placed order: its slot is taken, its code moves to the back of the rotation."""
        code = slot.code
        self.mark_taken(slot)
        if code.daily_cap_fen is not None:
            self._used[code.code_id] = self._used.get(code.code_id, 0) + slot.pay_amount_fen
        self._codes.remove(code)
        self._codes.append(code)
        self._touched.append(code.code_id)

    def mark_taken(self, slot: _Slot) -> None:
        self._taken.setdefault(slot.pay_amount_fen, set()).add(slot.code.scope)

    def touched(self) -> list[tuple[int, int]]:
        """(last_used_at, code id) updates with increasing stamps in the order the codes were used."""
        return [(self._first_stamp + i, code_id) for i, code_id in enumerate(self._touched)]


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


def _insert_params(order: Order) -> tuple[object, ...]:
    return (
        order.trade_no, order.pid, order.out_trade_no, order.type, order.name, order.money_fen,
        order.pay_amount_fen, order.code_id, order.account_id, order.scope, order.created_at,
        order.expires_at, order.param, order.notify_url, order.return_url, order.clientip, order.device,
        order.sitename,
    )
