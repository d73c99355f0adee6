"""The chaos test (scripts/chaos.py) in short: about 100 s, a fixed seed, every invariant must hold.

It runs the real gateway in its own process with its browser agent against the simulated back offices,
SIGKILLs the gateway and its Chromium, and plays payers who pay exactly, twice, late, a wrong amount or
never. A duplicate payment that confirms another (unpaid) order reusing the same amount fails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.browser
def test_chaos_run_violates_no_invariant(tmp_path: Path) -> None:
    figures_path = tmp_path / "chaos.json"
    run = subprocess.run(
        [sys.executable, "scripts/chaos.py", "--minutes", "1", "--ttl", "30", "--seed", "7",
         "--gateway-kill-every", "30", "--chromium-kill-every", "20", "--json", str(figures_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=400, check=False,
    )
    assert figures_path.exists(), f"the chaos run did not finish:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    figures = json.loads(figures_path.read_text())
    # The chaos really happened: orders at reused prices, each kind of payer, both kinds of kill.
    assert figures["orders_created"] >= 20, run.stdout
    assert figures["kills"]["gateway"] >= 1 and figures["kills"]["chromium"] >= 1, run.stdout
    for kind in ("exact", "duplicate", "stray"):
        assert figures["payments_by_kind"].get(kind, 0) > 0, (kind, run.stdout)
    assert figures["confirmations"] > 0, run.stdout
    # Every invariant held (the report lists each violation with its trade numbers and payments).
    assert figures["violations_total"] == 0, run.stdout[-12000:]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
