"""Intake benchmark: signed mapi.php orders per second and latency against a realistic QR pool.

``--sign rsa`` sends epay V2 orders instead (``/api/pay/create``, SHA256withRSA by a merchant key pair,
timestamp, replay claim, platform-signed answers), to measure what RSA costs per order.

Runs three processes on 127.0.0.1: this orchestrator (seeds a fresh data dir, checks invariants), the real
gateway (``python -m agent serve``) and a load client (aiohttp, ``--concurrency`` workers, bounded by
``--orders`` and ``--seconds``). Prints the numbers and exits non-zero on any invariant violation.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import uvloop
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent import epay, epay_rsa  # noqa: E402
from agent.accounts import AccountBook  # noqa: E402
from agent.codes import CodeBook  # noqa: E402
from agent.crypto import SecretBox  # noqa: E402
from agent.db import Database  # noqa: E402
from agent.merchants import MerchantBook  # noqa: E402
from agent.money import format_yuan  # noqa: E402
from agent.platforms import sync_platforms  # noqa: E402

# Shop prices repeat a lot (offsets needed); the rest are random amounts.
COMMON_PRICES = ("1.00", "6.00", "9.90", "10.00", "19.90", "29.90", "30.00", "49.00", "50.00", "99.00", "100.00")
PLATFORMS = ("shouqianba", "hkrt", "ysepay")
TARGET_RATE, TARGET_P99_MS = 1000, 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000, help="orders to send at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop sending after this long")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--codes-per-account", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500, help="orders sent first and not measured")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    parser.add_argument("--profile", type=Path, help="run the gateway under cProfile, stats written here")
    parser.add_argument("--sign", choices=("md5", "rsa"), default="md5",
                        help="md5: epay V1 mapi.php (default); rsa: epay V2 /api/pay/create signed with RSA")
    sub = parser.add_subparsers(dest="role")
    load = sub.add_parser("load", help=argparse.SUPPRESS)
    load.add_argument("--url", required=True)
    load.add_argument("--pid", required=True)
    load.add_argument("--key", required=True, help="the MD5 key, or with --sign rsa a file with the private key")
    return parser.parse_args()


# ---- orchestrator -------------------------------------------------------------------------------------


async def seed(data_dir: Path, secret: bytes, args: argparse.Namespace) -> tuple[int, str]:
    """A merchant and a pool of accounts with codes (terminal ids, a few daily caps); returns pid, key.

    With ``--sign rsa`` the merchant also gets an RSA key pair: its public half is registered, and the key
    returned is the path of a file holding the private half (for the load client).
    """
    box = SecretBox(secret)
    rng = random.Random(args.seed)
    async with Database(data_dir / "mapay.sqlite3") as db:
        await sync_platforms(db)
        merchant = await MerchantBook(db, box).create("压测商户")
        if args.sign == "rsa":
            private = epay_rsa.generate_private_key()
            await MerchantBook(db, box).set_rsa_key(merchant.pid, epay_rsa.public_key_body(private.public_key()))
            key_file = data_dir.parent / "merchant_private.pem"
            key_file.write_text(epay_rsa.private_key_pem(private))
            merchant = dataclasses.replace(merchant, key=str(key_file))
        pool = CodeBook(db, box)
        for n in range(args.accounts):
            account = await AccountBook(db, box).add_account(PLATFORMS[n % len(PLATFORMS)], f"门店{n}", f"bench{n}", "secret")
            for t in range(args.codes_per_account):
                cap = 10_000_000 if rng.random() < 0.2 else None
                await pool.add_code(account.id, payload=f"https://qr.example/{n}/{t}",
                                    terminal_id=f"T{n:03d}{t}", daily_cap_fen=cap)
    return merchant.pid, merchant.key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gateway exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gateway did not start listening")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to tell our cost from a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_invariants(database: Path, offset_max_fen: int) -> dict[str, int]:
    conn = sqlite3.connect(database)
    try:
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM orders WHERE status = 'pending' "
            "GROUP BY scope, pay_amount_fen HAVING count(*) > 1)"
        ).fetchone()[0]
        out_of_range = conn.execute(
            "SELECT count(*) FROM orders WHERE pay_amount_fen <= 0 OR pay_amount_fen > money_fen "
            "OR money_fen - pay_amount_fen > ?", (offset_max_fen,)
        ).fetchone()[0]
        orders, offset = conn.execute(
            "SELECT count(*), coalesce(sum(pay_amount_fen != money_fen), 0) FROM orders"
        ).fetchone()
        codes_used = conn.execute("SELECT count(DISTINCT code_id) FROM orders").fetchone()[0]
    finally:
        conn.close()
    return {"duplicate_live_amounts": duplicates, "pay_amount_out_of_range": out_of_range,
            "orders_in_db": orders, "orders_with_offset": offset, "codes_used": codes_used}


def orchestrate(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="mapay-bench-"))
    secret = Fernet.generate_key()
    pid, key = asyncio.run(seed(work / "data", secret, args))
    port = free_port()
    env = {**os.environ, "MAPAY_DATA_DIR": str(work / "data"), "MAPAY_SECRET_KEY": secret.decode(),
           "MAPAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
           # Intake only: the seeded accounts point at real provider hosts, which must never be dialled.
           "MAPAY_BROWSER_AGENT": "false"}
    log_path = work / "server.log"
    with open(log_path, "wb") as log:
        profiler = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
        server = subprocess.Popen(
            [sys.executable, *profiler, "-m", "agent", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_listening(port, server)
            cpu_before = cpu_seconds(server.pid)
            load = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "load", "--url", f"http://127.0.0.1:{port}",
                 "--pid", str(pid), "--key", key],
                check=True, capture_output=True, text=True,
            )
            server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(timeout=60)
    result = json.loads(load.stdout)
    result["server_cpu_ms_per_order"] = server_cpu * 1000 / max(1, result["sent"])
    from agent.settings import Settings

    invariants = check_invariants(work / "data" / "mapay.sqlite3", Settings(_env_file=None).offset_max_fen)  # type: ignore[call-arg]
    report(args, result, invariants)
    if args.keep:
        print(f"data dir and server log kept in {work}")
    else:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    violations = invariants["duplicate_live_amounts"] + invariants["pay_amount_out_of_range"]
    lost = invariants["orders_in_db"] != result["created_total"]
    return 1 if violations or lost or result["failed"] else 0


def report(args: argparse.Namespace, result: dict[str, Any], invariants: dict[str, int]) -> None:
    mode = "epay V2 /api/pay/create, RSA" if args.sign == "rsa" else "epay V1 mapi.php, MD5"
    print(f"mapay intake benchmark ({mode}): {args.accounts} accounts x {args.codes_per_account} codes, "
          f"concurrency {args.concurrency}, {os.cpu_count()} CPUs, loopback, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows every number)")
    print(f"  measured orders   {result['measured']} in {result['elapsed']:.2f} s "
          f"(after {result['warmup']} warm-up orders)")
    print(f"  throughput        {result['measured'] / result['elapsed']:.0f} orders/s")
    print(f"  latency           p50 {result['p50_ms']:.1f} ms   p99 {result['p99_ms']:.1f} ms   "
          f"max {result['max_ms']:.1f} ms")
    print(f"  gateway CPU       {result['server_cpu_ms_per_order']:.2f} ms per order (user + system), "
          f"i.e. at most ~{1000 / max(result['server_cpu_ms_per_order'], 0.001):.0f} orders/s per core")
    costs = signature_costs()
    print(f"  signature work    MD5 check {costs['md5_us']:.0f} us; RSA-2048 check {costs['rsa_verify_us']:.0f} us "
          f"+ platform signature of the answer {costs['rsa_sign_us']:.0f} us (one core, in-process)")
    print(f"  answers           created {result['created_total']}, refused (code -1) {result['refused']}, "
          f"failed (HTTP/other) {result['failed']}")
    print(f"  database          {invariants['orders_in_db']} orders, {invariants['orders_with_offset']} with an "
          f"offset amount, {invariants['codes_used']} codes used")
    rate, p99 = result["measured"] / result["elapsed"], result["p99_ms"]
    verdict = "met" if rate >= TARGET_RATE and p99 < TARGET_P99_MS else "MISSED"
    print(f"  target            >= {TARGET_RATE} orders/s with p99 < {TARGET_P99_MS} ms: {verdict}")
    print(f"  invariants        duplicate (scope, pay_amount) among pending: {invariants['duplicate_live_amounts']}; "
          f"pay_amount out of range: {invariants['pay_amount_out_of_range']}")


# ---- load client (separate process) -------------------------------------------------------------------


def order_bodies(args: argparse.Namespace, count: int) -> list[bytes]:
    """Signed, url-encoded create bodies made before the clock starts, so the client stays cheap.

    RSA bodies carry the timestamp of when they were signed: the run must start within 300 s of it.
    """
    rng = random.Random(args.seed + 1)
    private = epay_rsa.load_private_key(Path(args.key).read_text()) if args.sign == "rsa" else None
    timestamp = str(int(time.time()))
    bodies = []
    for n in range(count):
        money = rng.choice(COMMON_PRICES) if rng.random() < 0.7 else format_yuan(rng.randint(1, 50_000))
        fields = {"pid": args.pid, "type": rng.choice(("alipay", "wxpay")), "out_trade_no": f"B{args.seed}x{n}",
                  "notify_url": "http://127.0.0.1:9/notify", "return_url": "http://127.0.0.1:9/return",
                  "name": "压测商品", "money": money, "clientip": "127.0.0.1", "sign_type": "MD5"}
        if private is not None:
            fields |= {"method": "web", "timestamp": timestamp, "sign_type": "RSA"}
            fields["sign"] = epay_rsa.sign(fields, private)
        else:
            fields["sign"] = epay.sign(fields, args.key)
        bodies.append(urlencode(fields).encode())
    return bodies


def signature_costs(rounds: int = 2000) -> dict[str, float]:
    """Microseconds per MD5 check, RSA-2048 check and RSA-2048 signature over a typical create's fields."""
    fields = {"pid": "1", "type": "alipay", "out_trade_no": "B1x1", "notify_url": "http://127.0.0.1:9/notify",
              "return_url": "http://127.0.0.1:9/return", "name": "压测商品", "money": "19.90",
              "clientip": "127.0.0.1", "method": "web", "timestamp": str(int(time.time()))}
    key = epay_rsa.generate_private_key()
    md5_signed = fields | {"sign": epay.sign(fields, "k" * 32)}
    rsa_signed = fields | {"sign": epay_rsa.sign(fields, key)}
    public = key.public_key()

    def per_call(work: Any) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        return (time.perf_counter() - started) / rounds * 1e6

    return {"md5_us": per_call(lambda: epay.verify(md5_signed, "k" * 32)),
            "rsa_verify_us": per_call(lambda: epay_rsa.verify(rsa_signed, public)),
            "rsa_sign_us": per_call(lambda: epay_rsa.sign(fields, key))}


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    bodies = order_bodies(args, args.orders + args.warmup)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    latencies: list[float] = []
    counts = {"created": 0, "refused": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        url = args.url + ("/api/pay/create" if args.sign == "rsa" else "/mapi.php")
        success = 0 if args.sign == "rsa" else 1

        async def send(body: bytes) -> float:
            started = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    answer = await response.json(content_type=None)
                    code = answer.get("code") if response.status == 200 else None
            except (aiohttp.ClientError, ValueError):
                code = None
            counts["created" if code == success else "refused" if code == -1 else "failed"] += 1
            return time.perf_counter() - started

        async def worker(queue: list[bytes], deadline: float, measure: bool) -> None:
            while queue and time.perf_counter() < deadline:
                latency = await send(queue.pop())
                if measure:
                    latencies.append(latency)

        warm = bodies[: args.warmup][::-1]
        await asyncio.gather(*(worker(warm, float("inf"), False) for _ in range(args.concurrency)))
        measured = bodies[args.warmup:][::-1]
        started = time.perf_counter()
        deadline = started + args.seconds
        await asyncio.gather(*(worker(measured, deadline, True) for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {"measured": len(latencies), "elapsed": elapsed, "warmup": args.warmup,
            "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000, "max_ms": max(latencies) * 1000,
            "sent": sum(counts.values()), "created_total": counts["created"], "refused": counts["refused"], "failed": counts["failed"]}


def main() -> int:
    args = parse_args()
    if args.role == "load":
        print(json.dumps(uvloop.run(run_load(args))))  # a cheaper client leaves more CPU to the gateway
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    raise SystemExit(main())
