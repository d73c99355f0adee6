"""Chaos test: the real gateway against simulated back offices, payers who misbehave, and kills.

On 127.0.0.1 only, this driver serves simulated back offices (``fixtures``: 收钱吧 and 码钱 without captcha,
小Y经营 and 数字门店 with an image captcha), seeds a fresh data folder (a merchant, ``--accounts`` accounts,
one QR code each), runs a merchant site that verifies every notify's signature and money and sometimes
fails (HTTP 500, a timeout, a wrong body) before it acknowledges, and runs ``mapay serve`` in its own
process with its real browser agent (short order lifetime and poll interval, quick notify retries).

Chaos phase (``--minutes``): signed mapi.php orders keep coming at a few prices on a few accounts, so the
(scope, amount) slots are reused all the time. Each order's payer is one of:

- exact     pays the payable amount while the order is open;
- twice     pays it, waits until the order is confirmed, then pays the same amount again 1-3 s later;
- late      pays it after expiry, inside the matcher's allowance (``expires_at + match skew``);
- very_late pays it after that allowance, inside the late-payment grace: kept for review, confirms nothing;
- stray     pays an amount that matches no order;
- never     does not pay.

At random moments the driver SIGKILLs the gateway (and restarts it on the same data folder) or the
gateway's Chromium processes (the agent must relaunch by itself). Then a settle phase (no new orders,
no kills) lets payers, reads and notifies finish, the gateway is stopped, and the invariants are checked
against the database (opened read-only) and the driver's ledger of who paid what for which order:

1. every paid order was confirmed by a payment the driver made for that very order;
2. no payment confirms two orders, no order is confirmed by two payments;
3. every order paid exactly while open (or late within the allowance) is paid, and the merchant site
   acknowledged a valid notify for it;
4. ``PRAGMA integrity_check`` is ok;
5. every notify verifies (signature, money) and is for an order that is paid.

Exit status 0 when no invariant is violated, 1 otherwise (each violation is listed with its evidence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import (  # noqa: E402
    add_accounts,
    free_port,
    gateway_env,
    identified,
    kill_processes,
    process_kind,
    process_tree,
    run_in_scratch_folder,
    start_gateway,
    stop_gateway,
    wait_until_listening,
)

from agent.accounts import AccountBook  # noqa: E402
from agent.codes import CodeBook  # noqa: E402
from agent.crypto import SecretBox  # noqa: E402
from agent.db import Database  # noqa: E402
from agent.demo.shop import DemoShop  # noqa: E402
from agent.demo.world import SimulatedAccount  # noqa: E402
from agent.log import configure_logging  # noqa: E402
from agent.merchants import MerchantBook  # noqa: E402
from agent.platforms import sync_platforms  # noqa: E402
from fixtures.server import serve_all  # noqa: E402
from tests.support.merchant_site import MerchantSite, Reply, serve_merchant_site  # noqa: E402

CHAOS_PLATFORMS = ("shouqianba", "hkrt", "ysepay", "zhihui")  # two without captcha, two with an image captcha
PRICES_FEN = (1000, 2000, 5000)  # few prices: slots are reused (offsets go down by at most 99 fen)
STRAY_FEN = (1300, 1700)  # more than 99 fen from every price: matches no order
PAYERS = {"exact": 40, "twice": 25, "late": 10, "very_late": 5, "stray": 10, "never": 10}  # weights
LATE_KINDS = ("late", "very_late")
NOTIFY_SCHEDULE = "[2, 3, 5, 10, 20, 30, 60]"  # the gateway's retry delays during the run
NOTIFY_TIMEOUT_S = 3.0
IDLE_POLL_S = 3.0  # MAPAY_POLL_IDLE_INTERVAL_SECONDS: accounts with only expired orders
SHIPPED_SKEW_S = 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the chaos phase (then settle)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4, help=f"spread over {', '.join(CHAOS_PLATFORMS)}")
    parser.add_argument("--json", type=Path, help="write the figures and violations there")
    parser.add_argument("--ttl", type=int, default=60, help="MAPAY_ORDER_TTL_SECONDS")
    parser.add_argument("--poll-interval", type=float, default=1.5, help="MAPAY_POLL_INTERVAL_SECONDS")
    parser.add_argument("--skew", type=int, help=f"MAPAY_MATCH_SKEW_SECONDS (default: shipped, {SHIPPED_SKEW_S})")
    parser.add_argument("--order-every", type=float, default=1.0, help="mean seconds between two new orders")
    parser.add_argument("--gateway-kill-every", type=float, default=45.0, help="mean seconds between gateway kills")
    parser.add_argument("--chromium-kill-every", type=float, default=30.0,
                        help="mean seconds between kills of the gateway's Chromium")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and the gateway log")
    return parser.parse_args(argv)


def ms(at: float) -> int:
    return int(at * 1000)


def clock(ms_: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ms_ / 1000)) + f".{ms_ % 1000:03d}"


# ---- the ledger: who paid what for which order ------------------------------------------------------


@dataclass
class LedgerOrder:
    trade_no: str
    out_trade_no: str
    money: str
    pay_type: str
    payer: str  # a PAYERS kind
    account_id: int
    pay_amount_fen: int
    created_at: int  # ms, as the gateway stored them
    expires_at: int


@dataclass
class LedgerPayment:
    account_id: int
    provider_trade_no: str
    amount_fen: int
    paid_at: int  # ms, as the back office recorded it
    kind: str  # exact, duplicate (the second of "twice"), late, very_late, stray
    for_order: str  # the order the payer meant to pay
    expect_confirm: bool  # must confirm ``for_order`` (invariant 3)


@dataclass
class Violation:
    invariant: int
    what: str
    evidence: dict[str, Any]


@dataclass
class Figures:
    orders_created: int = 0
    orders_unreachable: int = 0  # mapi.php did not answer (gateway down, or killed mid-request)
    orders_refused: Counter[str] = field(default_factory=Counter)  # mapi.php answered no: its message
    orders_by_payer: Counter[str] = field(default_factory=Counter)
    payments_by_kind: Counter[str] = field(default_factory=Counter)
    gateway_kills: int = 0
    chromium_kills: int = 0
    chromium_processes_killed: int = 0
    gateway_restart_seconds: list[float] = field(default_factory=list)
    notify_faults: Counter[str] = field(default_factory=Counter)


class ReadOnlyDb:
    """The gateway's database opened read-only, a fresh connection per query (in a thread)."""

    def __init__(self, path: Path) -> None:
        self._uri = f"file:{path}?mode=ro"

    def query_now(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self._uri, uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self.query_now, sql, params)


# ---- the run ----------------------------------------------------------------------------------------


class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path, http: aiohttp.ClientSession, shop: DemoShop,
                 site: MerchantSite, accounts: dict[int, SimulatedAccount], env: dict[str, str], port: int) -> None:
        self.args = args
        self.work = work
        self.http = http
        self.shop = shop
        self.site = site
        self.accounts = accounts
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.db = ReadOnlyDb(work / "data" / "mapay.sqlite3")
        # One generator per concern, so the orders (price, payer) are the same sequence whatever the timing.
        self.rng = random.Random(args.seed)
        self.pay_rng = random.Random(args.seed + 1)
        self.kill_rng = random.Random(args.seed + 2)
        self.notify_rng = random.Random(args.seed + 3)
        self.skew = SHIPPED_SKEW_S if args.skew is None else args.skew
        self.orders: dict[str, LedgerOrder] = {}
        self.payments: dict[tuple[int, str], LedgerPayment] = {}
        self.figures = Figures()
        self.payers: list[asyncio.Task[None]] = []
        self.gateway: subprocess.Popen[bytes] | None = None
        self.gateway_lock = asyncio.Lock()
        self.last_payment = 0.0
        self.log_path = work / "gateway.log"
        self.fault_plans: dict[str, int] = {}  # out_trade_no -> how many valid notifies the site fails first

    # -- the gateway

    async def start(self) -> None:
        self.gateway = start_gateway(self.log_path, self.env, [sys.executable, "-m", "agent", "serve"])
        await wait_until_listening(self.port, self.gateway, within=60)

    async def stop(self) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            tree = identified(process_tree(self.gateway.pid))
            self.gateway.send_signal(signal.SIGTERM)
            await asyncio.to_thread(stop_gateway, self.gateway, 40)
            await asyncio.sleep(1)
            kill_processes(tree[1:])  # whatever outlived the gateway (it was ours)

    async def kill_gateway(self) -> None:
        async with self.gateway_lock:
            assert self.gateway is not None
            tree = identified(process_tree(self.gateway.pid))
            kill_processes(tree[:1])
            await asyncio.to_thread(self.gateway.wait)
            self.figures.gateway_kills += 1
            print(f"  {time.strftime('%H:%M:%S')} SIGKILL gateway (pid {tree[0][0]}, {len(tree)} processes in its tree)",
                  flush=True)
            await asyncio.sleep(1.0)
            kill_processes(tree[1:])  # a SIGKILLed container takes its children along
            await asyncio.sleep(self.kill_rng.uniform(0.5, 3.0))
            started = time.monotonic()
            await self.start()
            self.figures.gateway_restart_seconds.append(round(time.monotonic() - started, 2))

    async def kill_chromium(self) -> None:
        async with self.gateway_lock:
            assert self.gateway is not None
            root = self.gateway.pid
            chromium = [pid for pid in process_tree(root) if pid != root and _is_chromium(pid, root)]
            killed = kill_processes(identified(chromium))
            if killed:
                self.figures.chromium_kills += 1
                self.figures.chromium_processes_killed += killed
                print(f"  {time.strftime('%H:%M:%S')} SIGKILL the gateway's Chromium ({killed} processes)", flush=True)

    async def killer(self, started: float, seconds: float, every: float,
                     kill: Callable[[], Awaitable[None]]) -> None:
        """``round(seconds / every)`` kills (at least one) at uniform moments after a 15 s warm-up."""
        count = max(1, round(seconds / every))
        moments = sorted(self.kill_rng.uniform(min(15.0, seconds / 3), seconds * 0.9) for _ in range(count))
        for moment in moments:
            await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
            await kill()

    # -- orders

    async def order_stream(self, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.expovariate(1 / self.args.order_every))
            n += 1
            late_ok = until - time.monotonic() > self.args.ttl + 5  # late payers only for orders expiring in time
            kinds = [k for k in PAYERS if late_ok or k not in LATE_KINDS]
            payer = self.rng.choices(kinds, weights=[PAYERS[k] for k in kinds])[0]
            price = self.rng.choice(PRICES_FEN)
            pay_type = self.rng.choice(("alipay", "wxpay"))
            order = await self.place_order(n, price, pay_type, payer)
            if order is not None:
                self.payers.append(asyncio.create_task(self.pay_for(order)))

    async def place_order(self, n: int, price: int, pay_type: str, payer: str) -> LedgerOrder | None:
        money = f"{price / 100:.2f}"
        fields = self.shop.order_fields(money, f"混沌商品{n}", pay_type)
        self.site.expect(fields["out_trade_no"], money)  # before posting: the answer may be lost in a kill
        try:
            async with self.http.post(f"{self.url}/mapi.php", data=fields,
                                      timeout=aiohttp.ClientTimeout(total=10)) as response:
                answer: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self.figures.orders_unreachable += 1
            return None
        if answer.get("code") != 1:
            self.figures.orders_refused[str(answer.get("msg"))] += 1
            return None
        trade_no = str(answer["trade_no"])
        for _ in range(50):
            rows = await self.db.query(
                "SELECT account_id, pay_amount_fen, created_at, expires_at FROM orders WHERE trade_no = ?", (trade_no,))
            if rows:
                account_id, amount, created_at, expires_at = rows[0]
                order = LedgerOrder(trade_no, fields["out_trade_no"], money, pay_type, payer, account_id, amount,
                                    created_at, expires_at)
                self.orders[trade_no] = order
                self.figures.orders_created += 1
                self.figures.orders_by_payer[payer] += 1
                return order
            await asyncio.sleep(0.1)
        raise RuntimeError(f"order {trade_no} was created but cannot be read")

    # -- payers

    async def pay(self, order: LedgerOrder, amount_fen: int, kind: str, expect_confirm: bool) -> None:
        account = self.accounts[order.account_id]
        answer = await account.pay(amount_fen, order.pay_type)
        paid_at = ms(datetime.fromisoformat(str(answer["paid_at"])).timestamp())
        payment = LedgerPayment(order.account_id, str(answer["trade_no"]), amount_fen, paid_at, kind,
                                order.trade_no, expect_confirm)
        self.payments[payment.account_id, payment.provider_trade_no] = payment
        self.figures.payments_by_kind[kind] += 1
        self.last_payment = time.monotonic()

    async def sleep_until_ms(self, at_ms: int) -> None:
        await asyncio.sleep(max(0.0, at_ms / 1000 - time.time()))

    async def pay_for(self, order: LedgerOrder) -> None:
        ttl, rng = self.args.ttl, self.pay_rng
        if order.payer == "exact":
            await asyncio.sleep(rng.uniform(0.5, min(ttl * 0.5, 20.0)))
            await self.pay(order, order.pay_amount_fen, "exact", True)
        elif order.payer == "twice":
            await asyncio.sleep(rng.uniform(0.5, 8.0))
            await self.pay(order, order.pay_amount_fen, "exact", True)
            await self.wait_paid(order.trade_no, until_ms=order.expires_at + self.skew * 1000)
            await asyncio.sleep(rng.uniform(1.0, 3.0))  # the payer's app retried, or they scanned again
            await self.pay(order, order.pay_amount_fen, "duplicate", False)
        elif order.payer == "late":
            margin = max(0.2, min(self.skew - 4.0, self.skew * 0.7))
            await self.sleep_until_ms(order.expires_at + ms(rng.uniform(min(1.0, margin / 2), margin)))
            await self.pay(order, order.pay_amount_fen, "late", True)
        elif order.payer == "very_late":
            await self.sleep_until_ms(order.expires_at + self.skew * 1000 + ms(rng.uniform(3.0, 12.0)))
            await self.pay(order, order.pay_amount_fen, "very_late", False)
        elif order.payer == "stray":
            await asyncio.sleep(rng.uniform(0.5, min(ttl * 0.5, 20.0)))
            await self.pay(order, rng.randint(*STRAY_FEN), "stray", False)

    async def wait_paid(self, trade_no: str, until_ms: int) -> bool:
        while time.time() * 1000 < until_ms:
            rows = await self.db.query("SELECT status FROM orders WHERE trade_no = ?", (trade_no,))
            if rows and rows[0][0] == "paid":
                return True
            await asyncio.sleep(0.3)
        return False

    # -- the merchant site's faults

    def notify_policy(self, params: dict[str, str], problem: str | None) -> Reply | None:
        """Per order, fail the first 0-2 valid notifies (500, a timeout, a wrong body), then acknowledge."""
        if problem is not None:
            return None  # answered "fail": the gateway must keep trying, invariant 5 reports it
        out_trade_no = params.get("out_trade_no", "")
        plan = self.fault_plans.setdefault(out_trade_no, self.notify_rng.choices((0, 1, 2), weights=(55, 30, 15))[0])
        seen = sum(1 for r in self.site.received if r.params.get("out_trade_no") == out_trade_no)
        if seen >= plan:
            return None
        fault = self.notify_rng.choice(("http_500", "timeout", "wrong_body"))
        self.figures.notify_faults[fault] += 1
        if fault == "http_500":
            return Reply(status=500, body="internal error")
        if fault == "timeout":
            return Reply(body="success", delay=NOTIFY_TIMEOUT_S + 1.5)
        return Reply(body=self.notify_rng.choice(("ok", "fail", "SUCCESS!", "<html>success</html>")))

    # -- phases

    async def run(self) -> float:
        self.site.policy = self.notify_policy
        started = time.monotonic()
        seconds = self.args.minutes * 60
        await self.start()
        print(f"chaos phase: {seconds:.0f} s of orders every ~{self.args.order_every:g} s at "
              f"{', '.join(f'{p / 100:.2f}' for p in PRICES_FEN)} on {len(self.accounts)} accounts "
              f"({', '.join(sorted({a.platform for a in self.accounts.values()}))}), kills ...", flush=True)
        until = started + seconds
        await asyncio.gather(
            self.order_stream(until),
            self.killer(started, seconds, self.args.gateway_kill_every, self.kill_gateway),
            self.killer(started, seconds, self.args.chromium_kill_every, self.kill_chromium),
        )
        await self.settle()
        await self.stop()
        return time.monotonic() - started

    async def settle(self) -> None:
        """No new orders and no kills: payers finish, then reads and notifies catch up (bounded)."""
        settle_started = time.monotonic()
        print(f"settle: waiting for {sum(not t.done() for t in self.payers)} payers, then the notifies ...", flush=True)
        payer_bound = self.args.ttl + self.skew + 20
        done, pending = await asyncio.wait(self.payers, timeout=payer_bound) if self.payers else (set(), set())
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                print(f"  a payer failed: {task.exception()!r}", flush=True)
        deadline = time.monotonic() + 60
        expected = {p.for_order for p in self.payments.values() if p.expect_confirm}
        while time.monotonic() < deadline:
            acked = self.acknowledged()
            if all(self.orders[t].out_trade_no in acked for t in expected):
                break
            await asyncio.sleep(0.5)
        # Give the last duplicate / very late / stray payments a few reads to confirm something (wrongly).
        quiet = self.last_payment + max(3 * self.args.poll_interval, 2 * IDLE_POLL_S) + 5
        await asyncio.sleep(max(0.0, quiet - time.monotonic()))
        await asyncio.sleep(2 * NOTIFY_TIMEOUT_S)  # a wrong confirmation's notify gets its first attempt
        print(f"  settled in {time.monotonic() - settle_started:.0f} s", flush=True)

    def acknowledged(self) -> set[str]:
        """out_trade_nos the merchant site acknowledged a valid notify for (the gateway saw the answer)."""
        return {r.params.get("out_trade_no", "") for r in self.site.received
                if r.problem is None and r.status == 200 and r.answer == "success" and r.delay < NOTIFY_TIMEOUT_S}


def _is_chromium(pid: int, root: int) -> bool:
    try:
        return process_kind(pid, root).startswith("chromium")
    except OSError:
        return False


# ---- the invariants ---------------------------------------------------------------------------------


def check(chaos: Chaos) -> tuple[list[Violation], dict[str, Any]]:
    db, ledger, violations = chaos.db, chaos.payments, []
    integrity = db.query_now("PRAGMA integrity_check")
    if [tuple(r) for r in integrity] != [("ok",)]:
        violations.append(Violation(4, "PRAGMA integrity_check is not ok", {"result": [r[0] for r in integrity]}))
    orders = {r[0]: r for r in db.query_now(
        "SELECT trade_no, out_trade_no, status, account_id, pay_amount_fen, created_at, expires_at, paid_at, "
        "provider_trade_no FROM orders")}
    by_out = {r[1]: r for r in orders.values()}
    txs = db.query_now(
        "SELECT account_id, provider_trade_no, amount_fen, paid_at, status, order_trade_no FROM provider_transactions")
    by_hand = {r[0] for r in db.query_now("SELECT target FROM audit_log WHERE action IN "
                                          "('order.mark_paid', 'order.attach_transaction')")}
    confirming: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for tx in txs:
        if tx[5] is not None:
            confirming[tx[5]].append(tx)

    def order_evidence(trade_no: str) -> dict[str, Any]:
        row, mine = orders.get(trade_no), chaos.orders.get(trade_no)
        if row is None:
            return {"trade_no": trade_no, "in_database": False}
        return {"trade_no": trade_no, "out_trade_no": row[1], "status": row[2], "account_id": row[3],
                "pay_amount_fen": row[4], "created": clock(row[5]), "expires": clock(row[6]),
                "paid_at": clock(row[7]) if row[7] else None, "provider_trade_no": row[8],
                "payer": mine.payer if mine else "unknown to the driver (answer lost in a kill)"}

    def payment_evidence(payment: LedgerPayment) -> dict[str, Any]:
        return {"provider_trade_no": payment.provider_trade_no, "account_id": payment.account_id,
                "amount_fen": payment.amount_fen, "paid_at": clock(payment.paid_at), "kind": payment.kind,
                "made_for": order_evidence(payment.for_order)}

    wrong_by_kind: Counter[str] = Counter()
    wrong_before_order = 0  # of those: the payment was made before the order it confirmed existed
    # 1. every paid order was confirmed by a payment made for it
    for trade_no, row in orders.items():
        if row[2] != "paid" or trade_no in by_hand:
            continue
        txs_of = confirming.get(trade_no, [])
        if not txs_of:
            violations.append(Violation(1, "paid without a provider transaction", order_evidence(trade_no)))
            continue
        for tx in txs_of:
            payment = ledger.get((tx[0], tx[1]))
            if payment is None:
                violations.append(Violation(1, "confirmed by a payment the driver never made",
                                            {"order": order_evidence(trade_no), "provider_trade_no": tx[1]}))
            elif payment.for_order != trade_no:
                wrong_by_kind[payment.kind] += 1
                before = (row[5] - payment.paid_at) / 1000
                if before > 0:
                    wrong_before_order += 1
                violations.append(Violation(
                    1, f"unpaid order confirmed by a {payment.kind} payment made for another order",
                    {"order": order_evidence(trade_no), "payment": payment_evidence(payment),
                     "payment_made_before_the_order_s": round(before, 1)}))
    # 2. one payment -> at most one order, one order -> at most one payment
    for trade_no, txs_of in confirming.items():
        if len(txs_of) > 1:
            violations.append(Violation(2, "order confirmed by several payments",
                                        {"order": order_evidence(trade_no), "provider_trade_nos": [t[1] for t in txs_of]}))
        if orders.get(trade_no) and orders[trade_no][8] != txs_of[0][1]:
            violations.append(Violation(2, "order's provider_trade_no differs from its transaction",
                                        {"order": order_evidence(trade_no), "transaction": txs_of[0][1]}))
    paid_by: dict[tuple[int, str], list[str]] = defaultdict(list)
    for trade_no, row in orders.items():
        if row[2] == "paid" and row[8] is not None:
            paid_by[row[3], row[8]].append(trade_no)
    for (account_id, provider_trade_no), trade_nos in paid_by.items():
        if len(trade_nos) > 1:
            violations.append(Violation(2, "one payment confirms several orders",
                                        {"account_id": account_id, "provider_trade_no": provider_trade_no,
                                         "orders": [order_evidence(t) for t in trade_nos]}))
    # 3. every order paid exactly in time is paid and its notify acknowledged
    acked = chaos.acknowledged()
    for payment in ledger.values():
        if not payment.expect_confirm:
            continue
        order = chaos.orders[payment.for_order]
        status = orders[order.trade_no][2] if order.trade_no in orders else None
        if status != "paid":
            violations.append(Violation(3, f"paid ({payment.kind}) in time but not confirmed",
                                        {"order": order_evidence(order.trade_no), "payment": payment_evidence(payment)}))
        elif order.out_trade_no not in acked:
            violations.append(Violation(3, "paid and confirmed but no notify acknowledged",
                                        {"order": order_evidence(order.trade_no), "payment": payment_evidence(payment)}))
    # 5. notifies: valid, and only for paid orders
    notify_problems: Counter[str] = Counter()
    for received in chaos.site.received:
        out_trade_no = received.params.get("out_trade_no", "")
        if received.problem is not None:
            notify_problems[received.problem] += 1
            violations.append(Violation(5, f"notify refused by the merchant site: {received.problem}",
                                        {"params": {k: v for k, v in received.params.items() if k != "sign"}}))
        notified_order = by_out.get(out_trade_no)
        if notified_order is None or notified_order[2] != "paid":
            violations.append(Violation(5, "notify for an order that is not paid",
                                        {"out_trade_no": out_trade_no,
                                         "order": order_evidence(notified_order[0]) if notified_order else None}))
    statuses = Counter(r[2] for r in orders.values())
    notified = {r.params.get("out_trade_no") for r in chaos.site.received}
    stats = {
        "orders_in_database": len(orders), "orders_by_status": dict(statuses),
        "orders_unknown_to_driver": len(set(orders) - set(chaos.orders)),
        "confirmations": sum(1 for r in orders.values() if r[2] == "paid"),
        "transactions_read": len(txs), "transactions_by_status": dict(Counter(t[4] for t in txs)),
        "payments_not_read": len(set(ledger) - {(t[0], t[1]) for t in txs}),
        "notifies_received": len(chaos.site.received), "notifies_acknowledged": len(acked),
        "orders_notified": len(notified), "notify_problems": dict(notify_problems),
        "wrong_confirmations_by_payment_kind": dict(wrong_by_kind),
        "wrong_confirmations_paid_before_the_order": wrong_before_order,
    }
    return violations, stats


# ---- main -------------------------------------------------------------------------------------------


async def chaos_run(args: argparse.Namespace, work: Path) -> int:
    data_dir, secret = work / "data", Fernet.generate_key()
    box = SecretBox(secret)
    platforms = sorted({CHAOS_PLATFORMS[n % len(CHAOS_PLATFORMS)] for n in range(args.accounts)})
    async with serve_all(names=platforms) as offices, aiohttp.ClientSession() as http:
        async with Database(data_dir / "mapay.sqlite3") as db:
            await sync_platforms(db)
            merchant = await MerchantBook(db, box).create("混沌测试商户")
            accounts = await add_accounts(AccountBook(db, box), CodeBook(db, box), offices, http, CHAOS_PLATFORMS,
                                          args.accounts)
        port = free_port()
        env = gateway_env(data_dir, secret, port, order_ttl_seconds=args.ttl, poll_interval_seconds=args.poll_interval,
                          match_skew_seconds=args.skew, notify_schedule=NOTIFY_SCHEDULE,
                          notify_timeout_seconds=NOTIFY_TIMEOUT_S, poll_idle_interval_seconds=IDLE_POLL_S,
                          shutdown_timeout_seconds=10)
        async with serve_merchant_site(merchant.key) as site:
            shop = DemoShop(merchant, f"http://127.0.0.1:{port}", site_url=site.url.removesuffix("/notify"))
            chaos = Chaos(args, work, http, shop, site, accounts, env, port)
            try:
                duration = await chaos.run()
            finally:
                await chaos.stop()
    violations, stats = check(chaos)
    return report(args, chaos, violations, stats, duration)


def report(args: argparse.Namespace, chaos: Chaos, violations: list[Violation], stats: dict[str, Any],
           duration: float) -> int:
    f = chaos.figures
    by_invariant = Counter(v.invariant for v in violations)
    print()
    print(f"mapay chaos: seed {args.seed}, {args.minutes:g} min of chaos + settle = {duration:.0f} s; "
          f"{args.accounts} accounts, prices {', '.join(f'{p / 100:.2f}' for p in PRICES_FEN)}, "
          f"ttl {args.ttl} s, poll {args.poll_interval:g} s, skew {chaos.skew} s")
    print(f"  orders        {f.orders_created} created ({', '.join(f'{k} {v}' for k, v in sorted(f.orders_by_payer.items()))}), "
          f"{f.orders_unreachable} unanswered, {sum(f.orders_refused.values())} refused {dict(f.orders_refused) or ''}, "
          f"{stats['orders_unknown_to_driver']} created without an answer; "
          f"in the database: {', '.join(f'{k} {v}' for k, v in sorted(stats['orders_by_status'].items()))}")
    print(f"  payments      {sum(f.payments_by_kind.values())} ({', '.join(f'{k} {v}' for k, v in sorted(f.payments_by_kind.items()))}); "
          f"read by the gateway: {stats['transactions_read']} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(stats['transactions_by_status'].items()))}), "
          f"{stats['payments_not_read']} never read")
    print(f"  kills         gateway {f.gateway_kills} (restarts listening after {f.gateway_restart_seconds} s), "
          f"chromium {f.chromium_kills} ({f.chromium_processes_killed} processes)")
    print(f"  confirmations {stats['confirmations']}")
    print(f"  notifies      {stats['notifies_received']} received for {stats['orders_notified']} orders, "
          f"{stats['notifies_acknowledged']} orders acknowledged; injected faults "
          f"{dict(f.notify_faults) or 'none'}")
    print(f"  violations    {len(violations)}: " + (", ".join(f"invariant {k}: {v}" for k, v in sorted(by_invariant.items()))
                                                  or "none"))
    if stats["wrong_confirmations_by_payment_kind"]:
        print(f"                wrong confirmations by the payment that made them: "
              f"{stats['wrong_confirmations_by_payment_kind']}, "
              f"{stats['wrong_confirmations_paid_before_the_order']} of them paid before that order existed")
    for v in violations[:30]:
        print(f"  [{v.invariant}] {v.what}: {json.dumps(v.evidence, ensure_ascii=False)}")
    if len(violations) > 30:
        print(f"  ... {len(violations) - 30} more (all in --json)")
    if args.json:
        figures = {
            "seed": args.seed, "minutes": args.minutes, "accounts": args.accounts, "ttl": args.ttl,
            "poll_interval": args.poll_interval, "skew": chaos.skew, "duration_seconds": round(duration, 1),
            "orders_created": f.orders_created, "orders_unreachable": f.orders_unreachable,
            "orders_refused": dict(f.orders_refused),
            "orders_by_payer": dict(f.orders_by_payer), "payments_by_kind": dict(f.payments_by_kind),
            "kills": {"gateway": f.gateway_kills, "chromium": f.chromium_kills,
                      "chromium_processes": f.chromium_processes_killed},
            "gateway_restart_seconds": f.gateway_restart_seconds, "notify_faults": dict(f.notify_faults),
            **stats,
            "violations_by_invariant": {str(k): v for k, v in sorted(by_invariant.items())},
            "violations_total": len(violations),
            "violations": [asdict(v) for v in violations],
        }
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    return 1 if violations else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("WARNING")  # the driver's own database work; the gateway logs to gateway.log
    return run_in_scratch_folder("mapay-chaos-", lambda work: chaos_run(args, work), keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
