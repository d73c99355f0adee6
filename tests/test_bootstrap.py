"""``ensure_chromium`` of scripts/_bootstrap.sh (run by ./scripts/run and ./scripts/test): which Debian packages a
machine gets, with apt-get and the browsers stood in for by stubs on a PATH of their own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("dirname", "id")  # what the function runs besides apt-get and the browsers


def _stub(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _ensure(tmp_path: Path, *, browsers: tuple[str, ...], apt_fails: bool = False,
            env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    calls = tmp_path / "apt-calls"
    _stub(folder, "apt-get", f'echo "$*" >> {calls}\n' + ("case \"$1\" in install) exit 100;; esac" if apt_fails else ""))
    _stub(folder, "sudo", 'exec "$@"')  # for a run as a normal user
    for browser in browsers:
        _stub(folder, browser)
    done = subprocess.run(
        ["/bin/bash", "-c", f"source {ROOT}/scripts/_bootstrap.sh && ensure_chromium"],
        env={"PATH": str(folder), "HOME": str(tmp_path), **(env or {})},
        capture_output=True, text=True, timeout=30, check=False,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_a_machine_with_neither_browser_gets_both_and_the_fonts(tmp_path: Path) -> None:
    done, calls = _ensure(tmp_path, browsers=())
    assert done.returncode == 0, done.stderr
    install = [call for call in calls if call.startswith("install")]
    assert len(install) == 1
    assert {"chromium", "chromium-headless-shell", "fonts-noto-cjk"} <= set(install[0].split())


def test_a_machine_with_the_full_browser_gets_the_headless_shell_only(tmp_path: Path) -> None:
    done, calls = _ensure(tmp_path, browsers=("chromium",))
    assert done.returncode == 0, done.stderr
    install = [call for call in calls if call.startswith("install")]
    assert len(install) == 1 and "chromium-headless-shell" in install[0].split()
    assert "chromium" not in install[0].split() and "fonts-noto-cjk" not in install[0].split()


def test_without_an_installable_shell_the_full_browser_runs_headless(tmp_path: Path) -> None:
    done, _ = _ensure(tmp_path, browsers=("chromium",), apt_fails=True)
    assert done.returncode == 0, done.stderr
    assert "full chromium runs headless" in done.stdout


@pytest.mark.parametrize(("browsers", "env"), [
    (("chromium", "chromium-headless-shell"), {}),
    ((), {"MAPAY_CHROMIUM_PATH": "/opt/chrome"}),
], ids=["both there", "a browser configured"])
def test_nothing_is_installed_when_both_are_there_or_a_browser_is_configured(
        tmp_path: Path, browsers: tuple[str, ...], env: dict[str, str]) -> None:
    done, calls = _ensure(tmp_path, browsers=browsers, env=env)
    assert done.returncode == 0 and calls == [], done.stderr
