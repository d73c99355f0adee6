"""Where Chromium is, how to start it on a machine with no internet, and whether its sandbox can run."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

log = structlog.get_logger(__name__)

# Without these, Chromium keeps dialing Google's services, which fail on a closed network and waste time.
# The sandbox is not among them: Playwright adds ``--no-sandbox`` unless launched with
# ``chromium_sandbox=True`` (see :func:`sandbox_decision`).
BROWSER_FLAGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# For Chromium started directly (a debugging-port browser in tests, the recorder), without Playwright.
LAUNCH_ARGS = ("--no-sandbox", *BROWSER_FLAGS)

# Headless runs prefer Chromium's headless shell, as Playwright itself does: the full browser opens a window per
# context in headless mode too, with a preloaded omnibox-popup WebUI renderer beside each page, which roughly
# doubles the processes (and the memory) of a login (scripts/bench latency, issue 13).
_HEADLESS_SHELL = "chromium-headless-shell"
# Debian's /usr/bin/chromium-headless-shell is a script that runs this binary without exec: a signal to the
# launched process would reach the script, not the browser. The binary itself is launched when it is there.
_DEBIAN_HEADLESS_SHELL = Path("/usr/lib/chromium/chromium-headless-shell")
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

SandboxSetting = Literal["auto", "on", "off"]

# Chromium's namespace sandbox (Debian's Chromium has no setuid helper) needs an unprivileged process to
# create a user namespace, map itself in it, create PID and network namespaces there and chroot (into
# /proc/self/fdinfo/) with the capabilities it holds in that namespace. The probe does exactly that in a
# throwaway child, so a kernel, seccomp profile (Docker's default refuses unshare), AppArmor policy or an
# empty capability bounding set (``cap_drop: [ALL]`` without ``cap_add: [SYS_CHROOT]``) that forbids any of it
# shows up as a failure here rather than as a browser that will not start.
_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
uid, gid = os.geteuid(), os.getegid()
def step(name, ok):
    if not ok:
        err = ctypes.get_errno()
        sys.exit(f"{name}: {os.strerror(err) if err else 'failed'}")
step("unshare(CLONE_NEWUSER)", libc.unshare(CLONE_NEWUSER) == 0)
try:
    with open("/proc/self/setgroups", "w") as f: f.write("deny")
    with open("/proc/self/uid_map", "w") as f: f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f: f.write(f"0 {gid} 1")
except OSError as exc:
    sys.exit(f"uid_map: {exc.strerror}")
step("unshare(CLONE_NEWPID|CLONE_NEWNET)", libc.unshare(CLONE_NEWPID | CLONE_NEWNET) == 0)
try:
    os.chroot("/proc/self/fdinfo/")
except OSError as exc:
    sys.exit(f"chroot in the namespace: {exc.strerror}")
"""


@dataclass(frozen=True)
class SandboxDecision:
    """Whether Chromium runs with its own sandbox, and why."""

    enabled: bool
    reason: str


def find_chromium(configured: Path | None = None, *, headless: bool = True) -> Path | None:
    """The configured executable, else the system's Chromium (its headless shell first when ``headless``, never
    for a window); None means Playwright's own download."""
    if configured is not None:
        return configured
    env = os.environ.get("MAPAY_CHROMIUM_PATH")
    if env:
        return Path(env)
    if headless and os.access(_DEBIAN_HEADLESS_SHELL, os.X_OK):
        return _DEBIAN_HEADLESS_SHELL
    for name in (_HEADLESS_SHELL, *_BROWSERS) if headless else _BROWSERS:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def namespaces_problem() -> str | None:
    """Why this process could not give Chromium its namespace sandbox; None when it could."""
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"probe failed: {exc}"
    if done.returncode == 0:
        return None
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"probe exit code {done.returncode}"


def decide_sandbox(setting: SandboxSetting, *, euid: int | None = None,
                   probe: Callable[[], str | None] | None = None) -> SandboxDecision:
    """``on``/``off`` are obeyed; ``auto`` turns the sandbox on when this process can provide it: not root
    (Chromium refuses to sandbox itself as root) and allowed to create the namespaces it needs."""
    if setting == "on":
        return SandboxDecision(True, "MAPAY_CHROMIUM_SANDBOX=on")
    if setting == "off":
        return SandboxDecision(False, "MAPAY_CHROMIUM_SANDBOX=off")
    if (os.geteuid() if euid is None else euid) == 0:
        return SandboxDecision(False, "running as root (Chromium's sandbox needs an unprivileged user)")
    problem = (probe or namespaces_problem)()
    if problem is not None:
        return SandboxDecision(False, f"Chromium's namespace sandbox cannot run here: {problem}")
    return SandboxDecision(True, f"user namespaces and chroot available to uid {os.geteuid() if euid is None else euid}")


@functools.cache
def sandbox_decision(setting: SandboxSetting) -> SandboxDecision:
    """:func:`decide_sandbox`, probed and logged once per process."""
    decision = decide_sandbox(setting)
    log.info("chromium_sandbox", enabled=decision.enabled, setting=setting, reason=decision.reason)
    if setting == "on":
        problem = decide_sandbox("auto")
        if not problem.enabled:
            log.warning("chromium_sandbox_forced", detail=f"MAPAY_CHROMIUM_SANDBOX=on, but {problem.reason}: "
                        "Chromium will probably not start")
    return decision
