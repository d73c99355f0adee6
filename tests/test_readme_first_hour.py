"""The README's "Try it in five minutes", run as printed in a fresh clone: a newcomer's first hour.

The commands come from the README's code block after ``<!-- readme-test: try-it``, so the test fails when the
README drifts from what works. Each line runs as typed (``bash -c`` in the clone); a line whose comment says
``keeps running`` is started in the background and waited for. Only the environment differs from a newcomer's:
``MAPAY_VENV`` points at a thin virtualenv that reuses this machine's installed packages (no 2-minute install)
with the clone's own source, free ports replace 8000/9100/9101, and there is no ``DISPLAY``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.net import free_port

pytestmark = pytest.mark.browser  # the gateway logs into the simulated back office with Chromium

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- readme-test: try-it"
PASSWORD = "first-hour-pass"


def readme_commands(readme: str) -> list[tuple[str, bool]]:
    """(command, keeps running) for each line of the marked block."""
    after = readme[readme.index(MARK):]
    block = re.search(r"```bash\n(.*?)```", after, re.S)
    assert block is not None, "the try-it block is not followed by a bash code block"
    commands = []
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        if command.strip():
            commands.append((command.strip(), "keeps running" in comment))
    return commands


def thin_venv(where: Path, source: Path) -> Path:
    """A virtualenv whose packages are this interpreter's and whose ``agent`` is the clone's, already "installed"."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next(where.glob("lib/python*/site-packages"))
    (site / "mapay_clone.pth").write_text(f"{source}\n{sysconfig.get_paths()['purelib']}\n")
    script = where / "bin" / "mapay"
    script.write_text(f"#!{where}/bin/python\nimport sys\nfrom agent.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (where / ".mapay-installed").touch()  # newer than the clone's pyproject.toml and locks: no reinstall
    return where


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    target = tmp_path / "mapay"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:  # each in its own session: stop the command and what it started
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for_gateway(url: str, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway stopped"
        try:
            with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the gateway did not answer")


def _read_until(process: subprocess.Popen[str], needle: str, seconds: float = 60) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"no {needle!r} in:\n{''.join(seen)}")


def test_the_readme_try_it_block_pays_a_test_order_in_a_fresh_clone(
    clone: Path, tmp_path: Path, background: list[subprocess.Popen[str]]
) -> None:
    commands = readme_commands((clone / "README.md").read_text(encoding="utf-8"))
    assert [c for c, _ in commands][:3] == ["./scripts/run", "./scripts/mapay try", "./scripts/mapay try pay"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAPAY_") and k != "DISPLAY"}
    env.update(MAPAY_VENV=str(thin_venv(tmp_path / "venv", clone)), MAPAY_PORT=str(port),
               MAPAY_TRY_BACK_OFFICE_PORT=str(free_port()), MAPAY_TRY_SITE_PORT=str(free_port()))
    gateway = f"http://127.0.0.1:{port}"
    outputs = {}
    for command, keeps_running in commands:
        if keeps_running:
            process = subprocess.Popen(["bash", "-c", command], cwd=clone, env=env, text=True, start_new_session=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            background.append(process)
            if command == "./scripts/run":
                _wait_for_gateway(gateway, process)
            else:
                outputs[command] = _read_until(process, "try pay")
            continue
        done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, text=True, capture_output=True,
                              input=f"{PASSWORD}\n", timeout=300)
        outputs[command] = done.stdout + done.stderr
        if "doctor" not in command:  # doctor exits 1 while anything is ✗ (here: public URL, alerts)
            assert done.returncode == 0, (command, outputs[command])

    trial = outputs["./scripts/mapay try"]
    cashier = re.search(r"收银台\s+(\S+)", trial)
    assert cashier and cashier.group(1).startswith(f"{gateway}/pay/"), trial
    assert "模拟付款  ./scripts/mapay try pay" in trial  # the command printed is the README's, as typed
    assert (clone / "data" / "mapay.sqlite3").exists()  # the CLI used the data folder ./scripts/run serves
    paid = outputs["./scripts/mapay try pay"]
    assert "已支付" in paid and "✓ 付款已确认" in paid and "回复 success" in paid, paid
    doctor = outputs["./scripts/mapay doctor"]
    failing = {line.split("：")[0][2:] for line in doctor.splitlines() if line.startswith("✗")}
    assert failing == {"对外地址", "告警通知"}, doctor  # everything a local trial can have is ✓
    assert "✓ 账号 #1 模拟收钱吧（试用）" in doctor and "✓ 管理后台" in doctor
