"""Run the fuzz suite (tests/fuzz) in rounds with fresh random seeds until --minutes have passed.

Each round is one pytest run: the route fuzz (every route swept, then hypothesis-drawn malformed requests,
signed in and not) and schemathesis against /api/v1/openapi.json, each on a fresh gateway on 127.0.0.1.
Prints the requests sent by status over all rounds; exits 1 at the first failing round (its output is shown).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--examples", type=int, default=3000, help="route-fuzz examples per round")
    args = parser.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    sent, by_status, rounds = 0, Counter[str](), 0
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "figures.json"
        while rounds == 0 or time.monotonic() < deadline:
            rounds += 1
            env = {**os.environ, "MAPAY_FUZZ_EXAMPLES": str(args.examples), "MAPAY_FUZZ_REPORT": str(report),
                   "MAPAY_FUZZ_OPENAPI_EXAMPLES": str(args.examples // 3)}
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/fuzz"],
                env=env, capture_output=True, text=True, check=False,
            )
            if report.exists():
                figures = json.loads(report.read_text())
                sent += figures["sent"]
                by_status.update(figures["by_status"])
            lines = [line for line in run.stdout.splitlines() if line.startswith("fuzz (")]
            print(f"round {rounds}: " + " | ".join(dict.fromkeys(lines)), flush=True)
            if run.returncode != 0:
                print(run.stdout[-20000:], run.stderr[-5000:], sep="\n")
                return 1
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(by_status.items()))
    print(f"route fuzz: {sent} requests in {rounds} rounds; by status {{{statuses}}}; zero 5xx, tracebacks, writes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
