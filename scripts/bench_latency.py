"""Latency benchmark: a payment appears on a simulated back office -> the merchant receives the signed notify.

The real path end to end, on 127.0.0.1 only: this orchestrator serves the six simulated back offices
(``fixtures``), seeds a fresh data folder (a merchant, ``--accounts`` accounts spread over the platforms,
one QR code each), runs a merchant site that verifies every notify, and plays the payers (and the person
who reads 盛付通's SMS codes). The gateway runs in its own process with the real browser agent, so its
CPU and memory (and its Chromium's, read from /proc) are its own.

Phases: warm-up (one order per account, paid at once: every account logs in, captchas and SMS included;
not measured), measured (``--orders-per-account`` live orders per account through mapi.php, each paid
with its exact amount at a random moment of its lifetime), idle (the accounts have nothing to do; after
``--idle-seconds`` the runtime must hold no browser context). Bounded by ``--max-seconds``.

The tree is sampled once a second from the warm-up on: the peak RSS while the accounts log in (at most
``MAPAY_LOGIN_CONCURRENCY`` browser logins at once), the median PSS while they are polled. ``--json PATH``
writes the figures the targets are about (p50_s, p99_s, cpu_ms_per_poll, pss_mb_per_account, peak_rss_mb,
missing, idle_contexts) with the run's parameters and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import (  # noqa: E402
    add_accounts,
    free_port,
    gateway_env,
    gateway_metrics,
    process_kind,
    process_tree,
    run_in_scratch_folder,
    start_gateway,
    stat_fields,
    stop_gateway,
    wait_until_listening,
)

from agent.accounts import AccountBook  # noqa: E402
from agent.codes import CodeBook  # noqa: E402
from agent.crypto import SecretBox  # noqa: E402
from agent.db import Database  # noqa: E402
from agent.demo.shop import DemoShop, ShopOrder  # noqa: E402
from agent.demo.sms import SmsReader  # noqa: E402
from agent.demo.world import SimulatedAccount  # noqa: E402
from agent.merchants import MerchantBook  # noqa: E402
from agent.orders import get_order  # noqa: E402
from agent.platforms import sync_platforms  # noqa: E402
from fixtures.client import ControlClient  # noqa: E402
from fixtures.server import PLATFORMS, BackOffice, serve_all  # noqa: E402

TARGET_P50_S, TARGET_P99_S, TARGET_MB_PER_ACCOUNT = 2.0, 5.0, 40.0
# At scale (issue 13: 200 accounts x 3 live orders on 2 cores).
SCALE_ACCOUNTS = 200
SCALE_P50_S, SCALE_P99_S, SCALE_CPU_MS_PER_POLL, SCALE_PSS_MB_PER_ACCOUNT, SCALE_PEAK_RSS_MB = 1.5, 4.0, 5.0, 5.0, 2560
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--orders-per-account", type=int, default=10)
    parser.add_argument("--ttl", type=int, default=120, help="order lifetime in seconds (MAPAY_ORDER_TTL_SECONDS)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="MAPAY_BROWSER_IDLE_SECONDS for the run")
    parser.add_argument("--poll-interval", type=float, help="MAPAY_POLL_INTERVAL_SECONDS (default: the shipped one)")
    parser.add_argument("--max-seconds", type=float, default=290.0, help="stop by then whatever happened")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data folder and the gateway log")
    parser.add_argument("--login-concurrency", type=int, help="MAPAY_LOGIN_CONCURRENCY (default: the shipped one)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this JSON file")
    sub = parser.add_subparsers(dest="role")
    sub.add_parser("gateway", help=argparse.SUPPRESS)
    return parser.parse_args()


# ---- /proc: the gateway's process tree (python, Playwright's node driver, Chromium) -------------------


def _status_kb(pid: int, path: str, key: str) -> int:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


@dataclass
class TreeSample:
    """The gateway's process tree at one moment, grouped as python / node (Playwright driver) / chromium.

    CPU counts user + system time of each live process plus its exited, reaped children (closed renderers
    land in Chromium's). RSS counts pages shared between Chromium's processes once per process; PSS
    splits them, so the real footprint lies between the two (nearer PSS).
    """

    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    pss: int = 0
    processes: int = 0

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu.values())

    @property
    def total_rss(self) -> int:
        return sum(self.rss.values())


def sample_tree(root: int) -> TreeSample:
    sample = TreeSample()
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            kind = process_kind(pid, root)
            ticks = sum(int(v) for v in stat_fields(pid)[11:15])  # utime stime cutime cstime
            sample.cpu[kind] = sample.cpu.get(kind, 0.0) + ticks / CLOCK_TICKS
            sample.rss[kind] = sample.rss.get(kind, 0) + _status_kb(pid, "status", "VmRSS:") * 1024
            sample.pss += _status_kb(pid, "smaps_rollup", "Pss:") * 1024
            sample.processes += 1
    return sample


# ---- the merchant site and the gateway --------------------------------------------------------------


@dataclass
class Timeline:
    """When each measured order's payment appeared and when its notify arrived (loop time)."""

    paid: dict[str, float] = field(default_factory=dict)
    notified: dict[str, float] = field(default_factory=dict)
    refused_notifies: int = 0

    def latencies_by_order(self) -> dict[str, float]:
        return {n: self.notified[n] - at for n, at in self.paid.items() if n in self.notified}

    def latencies(self) -> list[float]:
        return sorted(self.latencies_by_order().values())


@contextlib.asynccontextmanager
async def merchant_site(shop: DemoShop, timeline: Timeline) -> AsyncIterator[str]:
    """The shop's notify endpoint on a loopback port; yields its base URL."""

    async def notify(request: web.Request) -> web.Response:
        arrived = asyncio.get_running_loop().time()
        params = dict(request.query)
        if not shop.receive_notify(params):
            timeline.refused_notifies += 1
            return web.Response(text="fail")
        timeline.notified.setdefault(params["out_trade_no"], arrived)
        return web.Response(text="success")

    app = web.Application()
    app.router.add_get("/notify", notify)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def transaction_reads(offices: dict[str, BackOffice], http: aiohttp.ClientSession) -> int:
    stats = [await ControlClient(office.url, http).stats() for office in offices.values()]
    return sum(int(s["transaction_calls"]) for s in stats)


# ---- the run ----------------------------------------------------------------------------------------


@dataclass
class World:
    http: aiohttp.ClientSession
    db: Database
    shop: DemoShop
    accounts: dict[int, SimulatedAccount]
    timeline: Timeline
    rng: random.Random


async def place_orders(world: World, count: int) -> list[tuple[ShopOrder, int, SimulatedAccount]]:
    """``count`` orders through mapi.php (8 at a time): each with its payable amount and account."""
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> tuple[ShopOrder, int, SimulatedAccount]:
        money = f"{world.rng.randint(100, 20_000) / 100:.2f}"
        async with gate:
            order = await world.shop.place_order(world.http, money, f"压测商品{n}", world.rng.choice(("alipay", "wxpay")))
        # Reads overlapping on the reader connection may share a snapshot taken before this commit.
        for _ in range(50):
            stored = await get_order(world.db, order.trade_no)
            if stored is not None:
                return order, stored.pay_amount_fen, world.accounts[stored.account_id]
            await asyncio.sleep(0.1)
        raise RuntimeError(f"order {order.trade_no} was created but cannot be read")

    return await asyncio.gather(*(one(n) for n in range(count)))


async def pay_after(world: World, delay: float, order: ShopOrder, amount_fen: int, account: SimulatedAccount,
                    measured: bool) -> None:
    await asyncio.sleep(delay)
    await account.pay(amount_fen, order.pay_type)
    if measured:  # the payment is in the back office from the moment its control call returned
        world.timeline.paid[order.out_trade_no] = asyncio.get_running_loop().time()


async def wait_for_notifies(world: World, orders: list[str], deadline: float) -> int:
    """Wait until every order's notify arrived (or the deadline); returns how many are missing."""
    while True:
        missing = [o for o in orders if not world.shop.notified(o)]
        if not missing or time.monotonic() > deadline:
            return len(missing)
        await asyncio.sleep(0.2)


@dataclass
class Measured:
    latencies: list[float]
    by_platform: dict[str, list[float]]
    missing: int
    cpu: dict[str, float]  # seconds per process kind over the measured phase
    polls: float
    reads: int
    seconds: float
    peak: TreeSample  # the sample with the largest RSS
    typical: TreeSample  # the sample with the median RSS: polling in steady state
    peak_contexts: float
    login_peak: TreeSample  # the sample with the largest RSS while the accounts logged in (warm-up)
    warm_up_seconds: float
    idle: TreeSample | None = None
    idle_contexts: float | None = None
    idle_after: float | None = None


async def sample_memory(root: int, world: World, url: str, samples: list[TreeSample], contexts: list[float]) -> None:
    """Sample the tree and the open contexts once a second."""
    while True:
        samples.append(await asyncio.to_thread(sample_tree, root))
        contexts.append((await gateway_metrics(world.http, url))["contexts"])
        await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def sampling(root: int, world: World, url: str) -> AsyncIterator[tuple[list[TreeSample], list[float]]]:
    samples: list[TreeSample] = []
    contexts: list[float] = []
    sampler = asyncio.create_task(sample_memory(root, world, url, samples, contexts))
    try:
        yield samples, contexts
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


async def run_phases(args: argparse.Namespace, world: World, gateway: subprocess.Popen[bytes], url: str,
                     offices: dict[str, BackOffice], started: float) -> Measured:
    deadline = started + args.max_seconds
    accounts = len(world.accounts)
    print(f"warm-up: one order per account ({accounts}), paid at once, every account logs in ...", flush=True)
    warm_started = time.monotonic()
    async with sampling(gateway.pid, world, url) as (login_samples, _):
        warm = await place_orders(world, accounts)
        await asyncio.gather(*(pay_after(world, 0, o, fen, a, False) for o, fen, a in warm))
        warm_deadline = max(time.monotonic() + 60, deadline - args.ttl - 60)  # leave the measured phase its time
        missing = await wait_for_notifies(world, [o.out_trade_no for o, _, _ in warm], warm_deadline)
    warm_up_seconds = time.monotonic() - warm_started
    print(f"  warm-up took {warm_up_seconds:.0f} s", flush=True)
    if missing:
        print(f"  warm-up: {missing} notifies still missing; measuring anyway", flush=True)

    count = accounts * args.orders_per_account
    print(f"measured (from {time.strftime('%H:%M:%S')}): {count} orders, each paid at a random moment of its {args.ttl} s lifetime ...", flush=True)
    before, metrics0 = sample_tree(gateway.pid), await gateway_metrics(world.http, url)
    reads0, t0 = await transaction_reads(offices, world.http), time.monotonic()
    async with sampling(gateway.pid, world, url) as (samples, contexts):
        orders = await place_orders(world, count)
        window = args.ttl * 0.8  # leave the matcher's last read inside the order's lifetime
        await asyncio.gather(*(pay_after(world, world.rng.uniform(0.5, window), o, fen, a, True)
                               for o, fen, a in orders))
        missing = await wait_for_notifies(world, [o.out_trade_no for o, _, _ in orders],
                                          min(deadline, time.monotonic() + 30))
    after, metrics1 = sample_tree(gateway.pid), await gateway_metrics(world.http, url)
    reads1, seconds = await transaction_reads(offices, world.http), time.monotonic() - t0
    platforms = {o.out_trade_no: a.title for o, _, a in orders}
    by_platform: dict[str, list[float]] = {}
    for out_trade_no, latency in world.timeline.latencies_by_order().items():
        by_platform.setdefault(platforms[out_trade_no], []).append(latency)
    result = Measured(
        latencies=world.timeline.latencies(), by_platform=by_platform, missing=missing,
        cpu={kind: after.cpu.get(kind, 0.0) - before.cpu.get(kind, 0.0) for kind in after.cpu},
        polls=metrics1["polls"] - metrics0["polls"], reads=reads1 - reads0, seconds=seconds,
        peak=max(samples or [after], key=lambda t: t.total_rss),
        typical=sorted(samples or [after], key=lambda t: t.total_rss)[len(samples) // 2],
        peak_contexts=max(contexts, default=0.0),
        login_peak=max(login_samples or [before], key=lambda t: t.total_rss), warm_up_seconds=warm_up_seconds,
    )

    print(f"idle: waiting up to {args.idle_seconds + 30:.0f} s for the browser contexts to close ...", flush=True)
    idle_started = time.monotonic()
    idle_deadline = min(deadline, idle_started + args.idle_seconds + 30)
    while time.monotonic() < idle_deadline:
        result.idle_contexts = (await gateway_metrics(world.http, url))["contexts"]
        if result.idle_contexts == 0:
            result.idle_after = time.monotonic() - idle_started
            break
        await asyncio.sleep(0.5)
    result.idle = sample_tree(gateway.pid)
    return result


async def bench(args: argparse.Namespace, work: Path) -> int:
    started = time.monotonic()
    data_dir, secret = work / "data", Fernet.generate_key()
    box = SecretBox(secret)
    rng = random.Random(args.seed)
    timeline = Timeline()
    async with (
        serve_all() as offices,
        aiohttp.ClientSession() as http,
        Database(data_dir / "mapay.sqlite3") as db,
    ):
        await sync_platforms(db)
        merchant = await MerchantBook(db, box).create("延迟压测商户")
        pool = CodeBook(db, box)
        accounts = await add_accounts(AccountBook(db, box), pool, offices, http, PLATFORMS, args.accounts)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        shop = DemoShop(merchant, url, site_url="")
        async with merchant_site(shop, timeline) as site_url:
            shop.site_url = site_url
            env = gateway_env(data_dir, secret, port, order_ttl_seconds=args.ttl,
                              browser_idle_seconds=args.idle_seconds, poll_interval_seconds=args.poll_interval,
                              login_concurrency=args.login_concurrency)
            gateway = start_gateway(work / "gateway.log", env, [sys.executable, __file__, "gateway"])
            try:
                await wait_until_listening(port, gateway)
                world = World(http, db, shop, accounts, timeline, rng)
                async with SmsReader(db, box, accounts.values()).running() as sms:
                    result = await run_phases(args, world, gateway, url, offices, started)
            finally:
                if gateway.poll() is not None:
                    print(f"the gateway exited by itself (code {gateway.returncode}): see {work}/gateway.log")
                gateway.send_signal(signal.SIGTERM)
                await asyncio.to_thread(stop_gateway, gateway)
    report(args, result, timeline, sms.delivered, time.monotonic() - started)
    return 0 if result.missing == 0 and timeline.refused_notifies == 0 else 1


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies or [float("nan")])[0], (latencies or [float("nan")])[0]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98]


def report(args: argparse.Namespace, r: Measured, timeline: Timeline, otps: int, elapsed: float) -> None:
    accounts = args.accounts
    print()
    print(f"mapay latency benchmark: {accounts} accounts over {len(PLATFORMS)} simulated platforms, "
          f"{args.orders_per_account} live orders each, order lifetime {args.ttl} s, "
          f"poll interval {args.poll_interval or 'default'}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; {elapsed:.0f} s in all")
    p50, p99 = _percentiles(r.latencies)
    print(f"  payment -> notify   p50 {p50:.2f} s   p99 {p99:.2f} s   max {max(r.latencies, default=0):.2f} s   "
          f"({len(r.latencies)} orders, {r.missing} notifies missing, {timeline.refused_notifies} refused)")
    for title, latencies in sorted(r.by_platform.items()):
        q50, q99 = _percentiles(sorted(latencies))
        print(f"      {title:<6}\tp50 {q50:.2f} s   p99 {q99:.2f} s   ({len(latencies)} orders)")
    verdict = "met" if p50 <= TARGET_P50_S and p99 <= TARGET_P99_S and not r.missing else "MISSED"
    print(f"  target              p50 <= {TARGET_P50_S:.0f} s, p99 <= {TARGET_P99_S:.0f} s: {verdict}")
    cpu = sum(r.cpu.values())
    print(f"  CPU (gateway tree)  {cpu:.1f} s over {r.seconds:.0f} s ({cpu / r.seconds * 100:.0f}% of one core): "
          f"{cpu * 1000 / max(r.polls, 1):.0f} ms per poll ({r.polls:.0f} polls, {r.reads} transaction reads); "
          + ", ".join(f"{k} {v * 1000 / max(r.polls, 1):.0f}" for k, v in sorted(r.cpu.items())) + " ms per poll")
    for label, sample in (("memory (median)", r.typical), ("memory (peak)", r.peak)):
        print(f"  {label:<20}RSS {sample.total_rss / MB:.0f} MB = {sample.total_rss / MB / accounts:.1f} MB per active "
              f"account; PSS {sample.pss / MB:.0f} MB = {sample.pss / MB / accounts:.1f} MB per active account; "
              f"{sample.processes} processes (" + ", ".join(f"{k} {v / MB:.0f} MB" for k, v in sorted(sample.rss.items()))
              + ")")
    per_rss = r.typical.total_rss / MB / accounts
    print(f"  target              <= {TARGET_MB_PER_ACCOUNT:.0f} MB per active account (median RSS, "
          f"{r.peak_contexts:.0f} contexts open at most): {'met' if per_rss <= TARGET_MB_PER_ACCOUNT else 'MISSED'}")
    idle = "never" if r.idle_after is None else f"after {r.idle_after:.1f} s"
    if r.idle is not None:
        print(f"  idle accounts       browser contexts {r.idle_contexts:.0f} ({idle} of idleness, "
              f"browser_idle_seconds {args.idle_seconds:g}); then RSS {r.idle.total_rss / MB:.0f} MB, "
              f"PSS {r.idle.pss / MB:.0f} MB, {r.idle.processes} processes ("
              + ", ".join(f"{k} {v / MB:.0f} MB" for k, v in sorted(r.idle.rss.items())) + ")")
    print(f"  logins (warm-up)    {r.warm_up_seconds:.0f} s for {accounts} accounts; peak RSS {r.login_peak.total_rss / MB:.0f} MB, "
          f"PSS {r.login_peak.pss / MB:.0f} MB, {r.login_peak.processes} processes")
    print(f"  SMS codes read      {otps} (盛付通 logins)")
    figures = figures_of(args, r)
    scale = (figures["p50_s"] <= SCALE_P50_S and figures["p99_s"] <= SCALE_P99_S and not r.missing
             and figures["cpu_ms_per_poll"] <= SCALE_CPU_MS_PER_POLL
             and figures["pss_mb_per_account"] <= SCALE_PSS_MB_PER_ACCOUNT
             and figures["peak_rss_mb"] <= SCALE_PEAK_RSS_MB and not figures["idle_contexts"])
    print(f"  scale targets       p50 <= {SCALE_P50_S} s, p99 <= {SCALE_P99_S} s, <= {SCALE_CPU_MS_PER_POLL:g} ms CPU "
          f"per poll, <= {SCALE_PSS_MB_PER_ACCOUNT:g} MB PSS per account, peak RSS <= {SCALE_PEAK_RSS_MB} MB while "
          f"logging in, 0 idle contexts: {'met' if scale else 'MISSED'}"
          + ("" if args.accounts >= SCALE_ACCOUNTS else f" (set for {SCALE_ACCOUNTS} accounts: the fixed cost of the "
             "browser, node and Python is shared by fewer here, so the PSS per account is higher)"))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"  figures written to {args.json}")


def figures_of(args: argparse.Namespace, r: Measured) -> dict[str, Any]:
    """The figures the targets are about, as ``--json`` writes them."""
    p50, p99 = _percentiles(r.latencies)
    return {
        "accounts": args.accounts, "orders_per_account": args.orders_per_account,
        "p50_s": round(p50, 3), "p99_s": round(p99, 3),
        "cpu_ms_per_poll": round(sum(r.cpu.values()) * 1000 / max(r.polls, 1), 2),
        "pss_mb_per_account": round(r.typical.pss / MB / args.accounts, 2),
        "peak_rss_mb": round(r.login_peak.total_rss / MB),
        "missing": r.missing, "idle_contexts": r.idle_contexts,
        "polls": r.polls, "warm_up_s": round(r.warm_up_seconds, 1),
        "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_gateway() -> int:
    """The gateway process: settings from MAPAY_* as a deployment has them, the real browser agent."""
    from agent.app import create_app
    from agent.log import configure_logging
    from agent.ops.serving import run
    from agent.settings import Settings

    configure_logging("INFO", json=True)
    settings = Settings()
    run(create_app(settings), settings.host, settings.port)  # the browser agent is the default
    return 0


def main() -> int:
    args = parse_args()
    if args.role == "gateway":
        return run_gateway()
    return run_in_scratch_folder("mapay-latency-", lambda work: bench(args, work), keep=args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
