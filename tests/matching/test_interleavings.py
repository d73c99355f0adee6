"""Payers pay once, twice, late or the wrong amount, in any interleaving with new orders, expiry and time passing:
no order is ever confirmed by a payment made for another order, and a payment confirms at most one order.

A hypothesis state machine over the real allocator, the real database (triggers included) and the real
record -> match -> flag steps of a poll. Time passing is simulated by moving every stored time back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from pydantic import SecretStr

from agent.accounts import AccountBook
from agent.allocation import AllocationError, Allocator, OrderDraft
from agent.codes import CodeBook
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.matching import match_account, record_transactions
from agent.matching.confirm import expire_overdue
from agent.merchants import MerchantBook
from agent.platforms import sync_platforms
from agent.providers.base import ProviderTransaction
from agent.settings import Settings
from tests.support.memory_provider import transaction

T = TypeVar("T")
PRICES = (1000, 2000)
STRAY_AMOUNTS = (1050, 2050)  # match no price, nor any offset of one
SKEW_MS = 30_000
TTL_S = 300
QUARANTINE_S = 600
TERMINALS = ("T1", "T2")


class PaymentInterleavings(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.new_event_loop()
        self._folder = tempfile.TemporaryDirectory()
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(self._folder.name), secret_key=SecretStr(Fernet.generate_key().decode()),
            offset_max_fen=2, order_ttl_seconds=TTL_S, match_skew_seconds=SKEW_MS // 1000,
            amount_quarantine_seconds=QUARANTINE_S, late_payment_grace_seconds=QUARANTINE_S,
        )
        self.db = self._run(Database(self.settings.database_path).__aenter__())
        box = SecretBox(self.settings.secret_key.get_secret_value().encode())  # type: ignore[union-attr]
        self._run(sync_platforms(self.db))
        self.pid = self._run(MerchantBook(self.db, box).create("商户")).pid
        pool = CodeBook(self.db, box)
        self.account_id = self._run(AccountBook(self.db, box).add_account("shouqianba", "门店", "user", "pw")).id
        for terminal in TERMINALS:
            self._run(pool.add_code(self.account_id, payload=f"qr-{terminal}", terminal_id=terminal))
        self.allocator = Allocator(self.db, self.settings)
        self.ledger: list[tuple[ProviderTransaction, str | None]] = []  # each payment and the order it was for
        self.paid_while_open: set[str] = set()
        self.serial = 0

    def teardown(self) -> None:
        self._run(self.db.__aexit__(None, None, None))
        self._loop.close()
        self._folder.cleanup()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(work)

    async def _order(self, trade_no: str) -> Any:
        return await self.db.fetchone(
            "SELECT trade_no, status, pay_amount_fen, scope, expires_at, paid_at, provider_trade_no FROM orders "
            "WHERE trade_no = ?", (trade_no,),
        )

    def _pay(self, amount_fen: int, terminal: str, intended: str | None) -> None:
        self.ledger.append((transaction(amount_fen, now_ms(), terminal_id=terminal), intended))

    @rule(target=orders, price=st.sampled_from(PRICES))
    def create(self, price: int) -> str:
        self.serial += 1
        draft = OrderDraft(pid=self.pid, out_trade_no=f"M{self.serial}", type=None, name="商品", money_fen=price,
                           notify_url="http://127.0.0.1:9/notify")
        try:
            return self._run(self.allocator.create(draft)).trade_no
        except AllocationError:
            return ""  # every slot of that price is held or quarantined

    @rule(trade_no=orders)
    def pay(self, trade_no: str) -> None:
        """The payer scans the order's code and pays what the cashier shows: on time, again, or late.

        Late and second payments are modelled while the order's slot is quarantined: that is the window mapay
        promises; a payment for an order that ended longer ago is a wrong amount, like any stranger's.
        """
        if not trade_no:
            return
        order = self._run(self._order(trade_no))
        if order["status"] == "pending" and now_ms() <= order["expires_at"]:
            self.paid_while_open.add(trade_no)
        elif order["status"] != "pending":
            ended_at = order["paid_at"] if order["status"] == "paid" else order["expires_at"]
            if now_ms() > ended_at + QUARANTINE_S * 1000:
                return
        self._pay(order["pay_amount_fen"], order["scope"].rsplit(":t", 1)[1], trade_no)

    @rule(amount=st.sampled_from(STRAY_AMOUNTS), terminal=st.sampled_from(TERMINALS))
    def pay_a_wrong_amount(self, amount: int, terminal: str) -> None:
        self._pay(amount, terminal, None)

    @rule(trade_no=orders)
    def run_out(self, trade_no: str) -> None:
        """The order's time runs out (its expiry moves behind the skew) and the sweep expires it."""
        if not trade_no:
            return
        self._run(self._write(("UPDATE orders SET expires_at = ? WHERE trade_no = ? AND status = 'pending'",
                               (now_ms() - SKEW_MS - 1, trade_no))))
        self._run(expire_overdue(self.db, skew_ms=SKEW_MS))
        self.paid_while_open.discard(trade_no)  # a payment not yet read now counts as late

    @rule()
    def poll(self) -> None:
        """A read of the provider's list: record every payment so far, match, flag duplicates."""
        self._run(record_transactions(self.db, self.account_id, [tx for tx, _ in self.ledger]))
        self._run(match_account(self.db, self.account_id, skew_ms=SKEW_MS, grace_ms=QUARANTINE_S * 1000))

    @rule()
    def time_passes(self) -> None:
        """Longer than a quarantine passes: every stored time, and every payment's, moves into the past."""
        shift = (QUARANTINE_S + 1) * 1000
        self._run(self._write(
            ("UPDATE orders SET created_at = created_at - ?1, expires_at = expires_at - ?1, paid_at = paid_at - ?1",
             (shift,)),
            ("UPDATE amount_quarantine SET until = until - ?1", (shift,)),
            ("UPDATE provider_transactions SET paid_at = paid_at - ?1, seen_at = seen_at - ?1", (shift,)),
        ))
        self.ledger = [
            (dataclasses.replace(tx, paid_at=tx.paid_at - timedelta(milliseconds=shift)), intended)
            for tx, intended in self.ledger
        ]
        self._run(expire_overdue(self.db, skew_ms=SKEW_MS))

    async def _write(self, *statements: tuple[str, tuple[int | str, ...]]) -> None:
        async with self.db.transaction() as conn:
            for sql, params in statements:
                await conn.execute(sql, params)

    @invariant()
    def no_order_is_confirmed_by_a_payment_made_for_another(self) -> None:
        intended = {tx.trade_no: order for tx, order in self.ledger}
        paid = self._run(self.db.fetchall("SELECT trade_no, provider_trade_no FROM orders WHERE status = 'paid'"))
        for row in paid:
            assert intended[row["provider_trade_no"]] == row["trade_no"], dict(row)

    @invariant()
    def a_payment_confirms_at_most_one_order(self) -> None:
        twice = self._run(self.db.fetchall(
            "SELECT provider_trade_no FROM orders WHERE provider_trade_no IS NOT NULL "
            "GROUP BY provider_trade_no HAVING count(*) > 1"
        ))
        assert twice == []
        flagged = self._run(self.db.fetchall(
            "SELECT provider_trade_no FROM provider_transactions WHERE duplicate_of IS NOT NULL AND status != 'unmatched'"
        ))
        assert flagged == []

    @invariant()
    def an_order_paid_while_open_is_confirmed_once_read(self) -> None:
        """Unless nobody read the provider until the order was past its late-payment grace."""
        read = {row[0] for row in self._run(self.db.fetchall("SELECT provider_trade_no FROM provider_transactions"))}
        for trade_no in self.paid_while_open:
            order = self._run(self._order(trade_no))
            if order["status"] == "expired" and order["expires_at"] < now_ms() - QUARANTINE_S * 1000:
                continue
            if any(intended == trade_no and tx.trade_no in read for tx, intended in self.ledger):
                assert order["status"] == "paid", trade_no

PaymentInterleavings.TestCase.settings = hypothesis_settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
test_payment_interleavings = PaymentInterleavings.TestCase
