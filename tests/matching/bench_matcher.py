"""Matcher speed: ``.venv/bin/python -m tests.matching.bench_matcher`` (not collected by pytest).

One account, 1,000 provider transactions against 1,000 candidate orders, in three shapes: varied amounts
(the normal case), every transaction paying an order, and a crowded scope where many orders share amounts.
"""

from __future__ import annotations

import random
import statistics
import time

from agent.matching.matcher import Candidate, Payment, match

SKEW_MS = 30_000
T0 = 1_700_000_000_000


def workload(orders: int, payments: int, amounts: int, seed: int) -> tuple[list[Payment], list[Candidate]]:
    rnd = random.Random(seed)
    candidates = []
    for i in range(orders):
        created = T0 + rnd.randrange(0, 3_600_000)
        candidates.append(Candidate(
            trade_no=f"O{i:06d}", account_id=1, terminal_id=rnd.choice(["T1", "T2", "T3", None]),
            type=rnd.choice(["alipay", "wxpay", None]), pay_amount_fen=1000 + rnd.randrange(amounts),
            created_at=created, expires_at=created + 300_000,
        ))
    paid = []
    for i in range(payments):
        target = rnd.choice(candidates)
        paid.append(Payment(
            account_id=1, trade_no=f"P{i:06d}", amount_fen=target.pay_amount_fen,
            channel=target.type or "alipay", paid_at=target.created_at + rnd.randrange(0, 300_000),
            terminal_id=target.terminal_id if rnd.random() < 0.8 else None, seen_at=target.expires_at,
        ))
    return paid, candidates


def bench(name: str, paid: list[Payment], orders: list[Candidate], rounds: int = 20) -> None:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = match(paid, orders, SKEW_MS)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"{name:<40} median {statistics.median(timings):6.2f} ms  max {max(timings):6.2f} ms  "
          f"matched {len(result)}/{len(paid)}")


def main() -> None:
    bench("1000 tx x 1000 orders, varied amounts", *workload(1000, 1000, 50_000, seed=1))
    bench("1000 tx x 1000 orders, 100 amounts", *workload(1000, 1000, 100, seed=2))
    bench("1000 tx x 1000 orders, 5 amounts", *workload(1000, 1000, 5, seed=3))


if __name__ == "__main__":
    main()
