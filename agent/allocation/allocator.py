"""Order placement: sweep expired orders, pick a code and a unique payable amount, write the order.

Concurrent requests are placed in batches: while one write transaction runs, new drafts queue up and
the next transaction places all of them (group commit). Each batch is one transaction, so every choice
is made on the data it is written against; the unique partial index ``orders_live_amount`` is the
backstop should another process write meanwhile (the refused slot is marked taken and the next tried).
Between transactions the allocator keeps its :class:`PoolView`, valid while the allocation epoch stands.
A slot whose order ended stays out of reach while quarantined; a trigger refuses it should the view be wrong.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from agent.allocation.clock import shanghai_day_start_ms
from agent.allocation.pool_view import PoolView, Slot
from agent.allocation.trade_no import new_trade_no, new_trade_nos
from agent.codes import touch_codes
from agent.db import Database, now_ms
from agent.errors import AllocationError, DuplicateOutTradeNo
from agent.orders import Order, OrderStatus, transitions
from agent.settings import Settings

log = structlog.get_logger(__name__)

_MAX_BATCH = 64

_EPOCH_SQL = "SELECT epoch FROM allocation_epoch"
_POLICY_SQL = (
    "UPDATE amount_quarantine_policy SET paid_ms = ?1, expired_ms = ?2 "
    "WHERE id = 1 AND (paid_ms != ?1 OR expired_ms != ?2)"
)
_FORGET_QUARANTINE_SQL = "DELETE FROM amount_quarantine WHERE until < ?"
_FORGET_EVERY_MS = 60_000

_T = TypeVar("_T")
_Work = Callable[[sqlite3.Connection, PoolView, int], _T]


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
    sign_type: str = "MD5"  # epay V1 MD5, or "RSA" (V2): how this order's notifies and returns are signed


_Outcome = Order | AllocationError | DuplicateOutTradeNo
_Queued = tuple[OrderDraft, "asyncio.Future[Order]"]


class Allocator:
    """Places orders on the QR pool: chooses each code and payable amount; the rows are written through
    ``agent.orders.transitions``, the only writer of ``orders``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._queue: list[_Queued] = []
        self._drainer: asyncio.Task[None] | None = None
        self._view: PoolView | None = None  # the pool as the last committed transaction left it
        self._forgot_at = 0  # when ended quarantines were last deleted

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

        def work(conn: sqlite3.Connection, view: PoolView, now: int) -> Order | None:
            while True:
                slot = view.next(conn, expired.money_fen)
                order = self._order(expired, expired.trade_no, slot, now)
                try:
                    renewed = transitions.renew(conn, order)
                except sqlite3.IntegrityError as exc:
                    _resolve_clash(exc, view, slot, order.trade_no, now)
                    continue
                if not renewed:
                    return None
                view.use(slot)
                return order

        return await self._transaction(work)

    async def _transaction(self, work: _Work[_T]) -> _T:
        """Run ``work`` in one write transaction against the pool view, after expiring overdue orders.

        The whole transaction is one synchronous call on the database thread (see
        :meth:`Database.run_transaction`). The kept view is reused when nothing else changed the pool since
        it was written back (same epoch) and the China day is the same; otherwise it is read afresh. It is
        kept again only if the transaction commits, so a rollback never leaves choices in memory that the
        database does not hold.
        """

        def body(conn: sqlite3.Connection) -> tuple[_T, PoolView]:
            view, self._view = self._view, None
            now = now_ms()
            self._maintain_quarantine(conn, now)
            epoch = _epoch(conn)
            expired = transitions.expire_overdue_in(conn, now - self._settings.match_skew_seconds * 1000)
            day_start = shanghai_day_start_ms(now)
            if view is not None and view.epoch == epoch and view.day_start == day_start:
                view.release(expired)
            else:
                view = PoolView.load(conn, day_start, self._settings)
            view.begin(now)
            result = work(conn, view, now)
            touch_codes(conn, view.touched())
            view.epoch = _epoch(conn)  # our own writes moved it; nobody else can while we hold the write lock
            return result, view

        result, self._view = await self._db.run_transaction(body)
        return result

    def _maintain_quarantine(self, conn: sqlite3.Connection, now: int) -> None:
        """Keep the triggers' durations equal to the settings and drop quarantines that ended a while ago.

        Both writes change no choice (an ended quarantine blocks nothing), so the epoch stays where it is. The
        policy update matches no row unless the settings changed, and costs one primary-key lookup.
        """
        conn.execute(_POLICY_SQL, self._settings.quarantine_ms)
        if now - self._forgot_at >= _FORGET_EVERY_MS:
            conn.execute(_FORGET_QUARANTINE_SQL, (now - _FORGET_EVERY_MS,))
            self._forgot_at = now

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
            return await self._transaction(self._placer(drafts, one_by_one=False))
        except sqlite3.IntegrityError:
            return await self._transaction(self._placer(drafts, one_by_one=True))

    def _placer(self, drafts: list[OrderDraft], *, one_by_one: bool) -> _Work[list[_Outcome]]:
        def work(conn: sqlite3.Connection, view: PoolView, now: int) -> list[_Outcome]:
            view.prefetch(conn, [draft.money_fen for draft in drafts])
            trade_nos = new_trade_nos(now, len(drafts))
            if one_by_one:
                return [self._insert(conn, view, d, t, now) for d, t in zip(drafts, trade_nos, strict=True)]
            outcomes = [self._choose(conn, view, d, t, now) for d, t in zip(drafts, trade_nos, strict=True)]
            transitions.insert_orders(conn, [o for o in outcomes if isinstance(o, Order)])
            return outcomes

        return work

    def _choose(
        self, conn: sqlite3.Connection, view: PoolView, draft: OrderDraft, trade_no: str, now: int
    ) -> _Outcome:
        try:
            slot = view.next(conn, draft.money_fen)
        except AllocationError as exc:
            return exc
        view.use(slot)
        return self._order(draft, trade_no, slot, now)

    def _insert(
        self, conn: sqlite3.Connection, view: PoolView, draft: OrderDraft, trade_no: str, now: int
    ) -> _Outcome:
        while True:
            try:
                slot = view.next(conn, draft.money_fen)
                order = self._order(draft, trade_no, slot, now)
                try:
                    transitions.insert_order(conn, order)
                except sqlite3.IntegrityError as exc:
                    trade_no = _resolve_clash(exc, view, slot, trade_no, now)
                    continue
            except (AllocationError, DuplicateOutTradeNo) as refused:
                return refused
            view.use(slot)
            return order

    def _order(self, draft: OrderDraft | Order, trade_no: str, slot: Slot, now: int) -> Order:
        return Order(
            trade_no=trade_no, pid=draft.pid, out_trade_no=draft.out_trade_no, type=draft.type,
            name=draft.name, money_fen=draft.money_fen, pay_amount_fen=slot.pay_amount_fen,
            code_id=slot.code.code_id, account_id=slot.code.account_id, scope=slot.code.scope,
            status=OrderStatus.PENDING, created_at=now, expires_at=now + self._settings.order_ttl_seconds * 1000,
            paid_at=None, provider_trade_no=None, param=draft.param, notify_url=draft.notify_url,
            return_url=draft.return_url, clientip=draft.clientip, device=draft.device, sitename=draft.sitename,
            sign_type=draft.sign_type,
        )


def _epoch(conn: sqlite3.Connection) -> int:
    return int(conn.execute(_EPOCH_SQL).fetchone()[0])


def _resolve_clash(exc: sqlite3.IntegrityError, view: PoolView, slot: Slot, trade_no: str, now: int) -> str:
    """React to a unique-constraint failure; returns the trade_no to try next."""
    message = str(exc)
    if "orders.scope" in message or "amount_quarantine" in message:
        log.warning("live_amount_clash", scope=slot.code.scope, pay_amount_fen=slot.pay_amount_fen)
        view.mark_taken(slot)
        return trade_no
    if "orders.out_trade_no" in message:
        raise DuplicateOutTradeNo() from exc
    if "orders.trade_no" in message:
        return new_trade_no(now)
    raise exc

