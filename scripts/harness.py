"""Pieces shared by the scripts that run the real gateway against the simulated back offices.

``scripts/bench_latency.py`` and ``scripts/chaos.py`` both seed a fresh data folder (a merchant, accounts on
the simulated back offices), run the gateway in its own process on a free loopback port, talk to it over
HTTP and look at its process tree in /proc (python, Playwright's node driver, Chromium).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.accounts import AccountBook  # noqa: E402
from agent.codes import CodeBook  # noqa: E402
from agent.demo.world import SimulatedAccount, add_simulated_account  # noqa: E402
from fixtures.server import BackOffice  # noqa: E402

# ---- /proc: the gateway's process tree ----------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, ..., [19] start time."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(stat_fields(int(entry.name))[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def process_kind(pid: int, root: int) -> str:
    """python (the gateway), node (Playwright's driver) or chromium's browser/renderers/gpu/utility."""
    if pid == root:
        return "python"
    if Path(f"/proc/{pid}/comm").read_text().startswith("node"):
        return "node"
    # Chromium rewrites its command line as one space-separated string, so search rather than split.
    found = re.search(rb"--type=([a-z-]+)", Path(f"/proc/{pid}/cmdline").read_bytes())
    kind = found.group(1).decode() if found else "browser"
    # A closed page's renderer ends up in its zygote's reaped-children time: count them together.
    return "chromium-renderers" if kind in ("renderer", "zygote") else f"chromium-{kind}"


def kill_processes(pids: Sequence[tuple[int, str]]) -> int:
    """SIGKILL each (pid, start time) still alive with that start time (never a reused pid); returns how many."""
    killed = 0
    for pid, started in pids:
        with contextlib.suppress(OSError, IndexError):
            if stat_fields(pid)[19] == started:
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def identified(pids: Sequence[int]) -> list[tuple[int, str]]:
    """Each pid with its start time, so a later kill cannot hit a process that reused the number."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            found.append((pid, stat_fields(pid)[19]))
    return found


# ---- the gateway process ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(data_dir: Path, secret: bytes, port: int, **settings: object) -> dict[str, str]:
    """The environment of a gateway process: this one's plus its data folder, key, port and ``MAPAY_*``
    settings given as keyword arguments (``order_ttl_seconds=60`` -> ``MAPAY_ORDER_TTL_SECONDS=60``)."""
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MAPAY_DATA_DIR": str(data_dir), "MAPAY_SECRET_KEY": secret.decode(),
           "MAPAY_HOST": "127.0.0.1", "MAPAY_PORT": str(port), "MAPAY_PUBLIC_URL": url}
    env.update({f"MAPAY_{name.upper()}": str(value) for name, value in settings.items() if value is not None})
    return env


def start_gateway(log_path: Path, env: Mapping[str, str], argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Run ``argv`` (a gateway) from the project root, appending its output to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(argv), cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)


async def wait_until_listening(port: int, gateway: subprocess.Popen[bytes], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise SystemExit(f"gateway exited with {gateway.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise SystemExit("gateway did not start listening")


def stop_gateway(gateway: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait for a gateway that was sent SIGTERM; SIGKILL it after ``timeout``."""
    try:
        gateway.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        gateway.kill()
        gateway.wait()


async def gateway_metrics(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Polls (sum over platforms) and open browser contexts from the gateway's /metrics."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    values = {"polls": 0.0, "contexts": 0.0}
    for line in text.splitlines():
        if line.startswith("mapay_polls_total{"):
            values["polls"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("mapay_browser_contexts "):
            values["contexts"] = float(line.rsplit(" ", 1)[1])
    return values


# ---- the accounts -----------------------------------------------------------------------------------


async def add_accounts(accounts_book: AccountBook, pool: CodeBook, offices: Mapping[str, BackOffice],
                       http: aiohttp.ClientSession, platforms: Sequence[str], count: int) -> dict[int, SimulatedAccount]:
    """``count`` accounts spread round-robin over ``platforms``, one code each (terminal ``T000``...)."""
    accounts = {}
    for n in range(count):
        platform = platforms[n % len(platforms)]
        account = await add_simulated_account(accounts_book, pool, platform, offices[platform].url, http,
                                              username=f"139{n:08d}", terminal_id=f"T{n:03d}")
        accounts[account.account_id] = account
    return accounts


def run_in_scratch_folder(prefix: str, run: Callable[[Path], Coroutine[object, object, int]], *, keep: bool) -> int:
    """Run ``run(folder)`` on a fresh temporary folder (data, logs) and remove it afterwards unless ``keep``."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return asyncio.run(run(work))
    finally:
        if keep:
            print(f"data folder and gateway log kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
