"""MAPAY_CHROMIUM_SANDBOX: ``auto`` turns Chromium's own sandbox on only where it can run (not root, user
namespaces and chroot inside them allowed), says so in one log line at start, and ``on``/``off`` win."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.browser.launch import (
    BROWSER_FLAGS,
    LAUNCH_ARGS,
    decide_sandbox,
    namespaces_problem,
    sandbox_decision,
)
from agent.browser.runtime import BrowserRuntime
from agent.settings import Settings
from tests.browser.conftest import agent_settings


@pytest.fixture(autouse=True)
def fresh_decision() -> Iterator[None]:
    sandbox_decision.cache_clear()
    yield
    sandbox_decision.cache_clear()


def no_probe() -> str | None:
    raise AssertionError("the namespace probe must not run")


def test_on_and_off_are_obeyed_without_probing() -> None:
    assert decide_sandbox("on", euid=0, probe=no_probe).enabled
    assert not decide_sandbox("off", euid=10001, probe=no_probe).enabled


def test_auto_is_off_for_root_without_probing() -> None:
    decision = decide_sandbox("auto", euid=0, probe=no_probe)
    assert not decision.enabled
    assert "root" in decision.reason


def test_auto_follows_the_probe_for_an_unprivileged_user() -> None:
    assert decide_sandbox("auto", euid=10001, probe=lambda: None).enabled
    refused = decide_sandbox("auto", euid=10001, probe=lambda: "unshare(CLONE_NEWUSER): Operation not permitted")
    assert not refused.enabled
    assert "unshare(CLONE_NEWUSER): Operation not permitted" in refused.reason


@pytest.mark.parametrize(("raw", "setting"), [("auto", "auto"), ("true", "on"), ("1", "on"), ("ON", "on"),
                                              ("false", "off"), ("no", "off"), ("off", "off")])
def test_the_setting_reads_on_off_auto_and_booleans(monkeypatch: pytest.MonkeyPatch, raw: str,
                                                    setting: str) -> None:
    monkeypatch.setenv("MAPAY_CHROMIUM_SANDBOX", raw)
    assert Settings().chromium_sandbox == setting


def test_the_probe_answers_on_this_machine() -> None:
    # Whatever the machine allows, the probe finishes and explains a refusal in one line.
    problem = namespaces_problem()
    assert problem is None or (problem and "\n" not in problem)


async def test_the_runtime_decides_at_start_and_logs_it(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with BrowserRuntime(agent_settings(tmp_path)) as runtime:
            decision = runtime.sandbox
    lines = [entry for entry in logs if entry["event"] == "chromium_sandbox"]
    assert len(lines) == 1
    assert lines[0]["enabled"] is decision.enabled and lines[0]["setting"] == "auto"
    assert lines[0]["reason"] == decision.reason
    if os.geteuid() == 0:  # root outside a container (this machine, CI): Chromium refuses its sandbox
        assert not decision.enabled
        assert "root" in decision.reason
    else:
        assert decision.enabled is (namespaces_problem() is None)


def test_no_sandbox_flag_only_for_chromium_started_directly() -> None:
    # Playwright adds --no-sandbox itself unless chromium_sandbox=True; ours must not force it off.
    assert "--no-sandbox" not in BROWSER_FLAGS
    assert LAUNCH_ARGS[0] == "--no-sandbox"
    assert LAUNCH_ARGS[1:] == BROWSER_FLAGS
