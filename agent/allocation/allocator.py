"""Order placement: sweep expired orders, pick a code and a unique payable amount, write the order.

Everything happens in one write transaction, so the choice is made on the data it is written against.
The unique partial index ``orders_live_amount`` is the backstop should another process write meanwhile.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import aiosqlite
import structlog

from agent.allocation.amounts import EligibleCode, amount_candidates, choose_slot, scope_key
from agent.allocation.clock import shanghai_day_start_ms
from agent.allocation.trade_no import new_trade_no
from agent.db import Database, now_ms
from agent.orders import Order, OrderStatus
from agent.settings import Settings

log = structlog.get_logger(__name__)

_SWEEP_SQL = "UPDATE orders SET status = 'expired' WHERE status = 'pending' AND expires_at < ?"
_ELIGIBLE_SQL = (
    "SELECT c.id, c.account_id, c.terminal_id, p.has_terminal, c.daily_cap_fen "
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


class Allocator:
    """Places orders on the QR pool; the only writer of new pending orders."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def create(self, draft: OrderDraft) -> Order:
        """Insert a new pending order; raises AllocationError or DuplicateOutTradeNo."""
        async with self._db.transaction() as conn:
            now = now_ms()
            slots = await self._slots(conn, draft.money_fen, now)
            trade_no = new_trade_no(now)
            while True:
                slot = slots.next()
                order = self._order(draft, trade_no, slot, now)
                try:
                    await conn.execute(_INSERT_SQL, _insert_params(order))
                except sqlite3.IntegrityError as exc:
                    trade_no = self._resolve_clash(exc, slots, slot, trade_no, now)
                    continue
                await conn.execute(_TOUCH_SQL, (now, slot.code.code_id))
                return order

    async def renew(self, expired: Order) -> Order | None:
        """Give an expired order a fresh slot and lifetime under the same trade_no (the merchant re-sent it).

        Returns None when the order is no longer expired (it was paid or renewed meanwhile).
        """
        async with self._db.transaction() as conn:
            now = now_ms()
            slots = await self._slots(conn, expired.money_fen, now)
            while True:
                slot = slots.next()
                order = self._order(expired, expired.trade_no, slot, now)
                try:
                    cursor = await conn.execute(
                        _RENEW_SQL,
                        (order.pay_amount_fen, slot.code.code_id, slot.code.account_id, slot.code.scope,
                         now, order.expires_at, order.trade_no),
                    )
                except sqlite3.IntegrityError as exc:
                    self._resolve_clash(exc, slots, slot, order.trade_no, now)
                    continue
                if cursor.rowcount == 0:
                    return None
                await conn.execute(_TOUCH_SQL, (now, slot.code.code_id))
                return order

    async def _slots(self, conn: aiosqlite.Connection, money_fen: int, now: int) -> _SlotFinder:
        """Expire stale orders, then gather what is needed to choose slots for ``money_fen``."""
        await conn.execute(_SWEEP_SQL, (now - self._settings.match_skew_seconds * 1000,))
        codes = [
            EligibleCode(row[0], row[1], scope_key(row[1], row[2], bool(row[3])), row[4])
            for row in await conn.execute_fetchall(_ELIGIBLE_SQL)
        ]
        if not codes:
            raise NoCodeAvailable()
        candidates = amount_candidates(money_fen, self._settings.offset_max_fen, self._settings.offset_direction)
        scopes = sorted({code.scope for code in codes})
        marks = ", ".join("?" * len(scopes))
        taken_rows = await conn.execute_fetchall(
            f"SELECT scope, pay_amount_fen FROM orders WHERE status = 'pending' AND scope IN ({marks}) "
            "AND pay_amount_fen BETWEEN ? AND ?",
            (*scopes, min(candidates), max(candidates)),
        )
        used_today = await _used_today(conn, [c.code_id for c in codes if c.daily_cap_fen is not None], now)
        return _SlotFinder(candidates, codes, {(row[0], row[1]) for row in taken_rows}, used_today)

    def _order(self, draft: OrderDraft | Order, trade_no: str, slot: _Slot, now: int) -> Order:
        return Order(
            trade_no=trade_no, pid=draft.pid, out_trade_no=draft.out_trade_no, type=draft.type,
            name=draft.name, money_fen=draft.money_fen, pay_amount_fen=slot.pay_amount_fen,
            code_id=slot.code.code_id, account_id=slot.code.account_id, scope=slot.code.scope,
            status=OrderStatus.PENDING, created_at=now, expires_at=now + self._settings.order_ttl_seconds * 1000,
            paid_at=None, provider_trade_no=None, param=draft.param, notify_url=draft.notify_url,
            return_url=draft.return_url, clientip=draft.clientip, device=draft.device, sitename=draft.sitename,
        )

    @staticmethod
    def _resolve_clash(
        exc: sqlite3.IntegrityError, slots: _SlotFinder, slot: _Slot, trade_no: str, now: int
    ) -> str:
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
    """Hands out the best free slot, remembering slots the database refused."""

    def __init__(
        self, candidates: list[int], codes: list[EligibleCode], taken: set[tuple[str, int]], used: dict[int, int]
    ) -> None:
        self._candidates = candidates
        self._codes = codes
        self._taken = taken
        self._used = used

    def next(self) -> _Slot:
        chosen = choose_slot(self._candidates, self._codes, self._taken, self._used)
        if chosen is None:
            raise AmountsExhausted()
        return _Slot(*chosen)

    def mark_taken(self, slot: _Slot) -> None:
        self._taken.add((slot.code.scope, slot.pay_amount_fen))


async def _used_today(conn: aiosqlite.Connection, code_ids: list[int], now: int) -> dict[int, int]:
    """Sum of today's (China time) paid and pending pay amounts per capped code."""
    if not code_ids:
        return {}
    marks = ", ".join("?" * len(code_ids))
    rows = await conn.execute_fetchall(
        f"SELECT code_id, SUM(pay_amount_fen) FROM orders WHERE code_id IN ({marks}) AND created_at >= ? "
        "AND status IN ('pending', 'paid') GROUP BY code_id",
        (*code_ids, shanghai_day_start_ms(now)),
    )
    return {row[0]: row[1] for row in rows}


def _insert_params(order: Order) -> tuple[object, ...]:
    return (
        order.trade_no, order.pid, order.out_trade_no, order.type, order.name, order.money_fen,
        order.pay_amount_fen, order.code_id, order.account_id, order.scope, order.created_at,
        order.expires_at, order.param, order.notify_url, order.return_url, order.clientip, order.device,
        order.sitename,
    )
