"""``mapay serve`` in a real subprocess on a loopback port, with the CLI pointed at the same data folder."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from agent import epay
from tests.support.net import free_port

STARTUP_SECONDS = 30.0
# The checkout under test: the server runs from the log's folder, where ``-m agent`` would otherwise find
# whichever copy the virtualenv was installed from (another worktree).
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def server_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for ``mapay`` commands: only MAPAY_* variables configure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAPAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SOURCE_ROOT), env.get("PYTHONPATH"))))
    env |= {
        "MAPAY_DATA_DIR": str(data_dir),
        "MAPAY_SECRET_KEY": Fernet.generate_key().decode(),
        "MAPAY_HOST": "127.0.0.1",
        "MAPAY_PORT": str(free_port()),
        "MAPAY_BROWSER_AGENT": "false",  # accounts here point at real provider hosts: never dial them
    }
    return env | {f"MAPAY_{k.upper()}": v for k, v in settings.items()}


@dataclass
class Served:
    env: dict[str, str]
    process: asyncio.subprocess.Process
    log_path: Path
    cli_stderr: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.env["MAPAY_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "agent", *args], env=self.env, input=stdin, capture_output=True, text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        self.cli_stderr.append(result.stderr)
        return result

    def cli_json(self, *args: str, stdin: str = "") -> Any:
        return json.loads(self.cli("--json", *args, stdin=stdin).stdout)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    async def exit_code(self, within: float) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout=within)


async def _wait_listening(served: Served) -> None:
    deadline = asyncio.get_running_loop().time() + STARTUP_SECONDS
    while True:
        if served.process.returncode is not None:
            raise AssertionError(f"mapay serve exited early:\n{served.logs()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"mapay serve did not listen:\n{served.logs()}") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


@asynccontextmanager
async def serving(env: dict[str, str], log_path: Path) -> AsyncIterator[Served]:
    """Start ``python -m agent serve`` (the ``mapay serve`` entry point); kill it if a test leaves it up."""
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "serve", env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            cwd=log_path.parent,
        )
    served = Served(env, process, log_path)
    try:
        await _wait_listening(served)
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def signed_order(merchant: dict[str, Any], out_trade_no: str, **fields: str) -> dict[str, str]:
    """mapi.php / submit.php fields as a merchant site signs them."""
    params = {
        "pid": str(merchant["pid"]), "type": "alipay", "out_trade_no": out_trade_no,
        "notify_url": "http://127.0.0.1:9/notify", "return_url": "http://127.0.0.1:9/return",
        "name": "测试商品", "money": "10.00", "clientip": "127.0.0.1", **fields,
    }
    return epay.signed(params, merchant["key"])


def add_code(served: Served, password: str = "provider-pass") -> dict[str, Any]:
    """An account and a code through the CLI, so orders can be placed."""
    account = served.cli_json(
        "account", "add", "--platform", "shouqianba", "--name", "门店", "--username", "owner",
        "--password-stdin", stdin=password + "\n",
    )
    code: dict[str, Any] = served.cli_json(
        "code", "add", "--account", str(account["id"]), "--payload", "https://qr.example/1", "--terminal", "T1"
    )
    return code
