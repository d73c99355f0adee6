"""Which Chromium a launch picks: the headless shell for headless runs, the full browser for a window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.browser import launch
from agent.browser.launch import find_chromium


def _install(folder: Path, *names: str) -> None:
    for name in names:
        executable = folder / name
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)


@pytest.fixture
def bin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MAPAY_CHROMIUM_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(launch, "_DEBIAN_HEADLESS_SHELL", tmp_path / "lib" / "chromium-headless-shell")
    return tmp_path


def test_headless_runs_prefer_the_headless_shell_and_a_window_the_full_browser(bin_folder: Path) -> None:
    _install(bin_folder, "chromium", "chromium-headless-shell")
    assert find_chromium() == bin_folder / "chromium-headless-shell"
    assert find_chromium(headless=False) == bin_folder / "chromium"


def test_debians_shell_binary_is_launched_rather_than_its_wrapper_script(bin_folder: Path) -> None:
    _install(bin_folder, "chromium", "chromium-headless-shell")
    (bin_folder / "lib").mkdir()
    _install(bin_folder / "lib", "chromium-headless-shell")
    assert find_chromium() == bin_folder / "lib" / "chromium-headless-shell"
    assert find_chromium(headless=False) == bin_folder / "chromium"


def test_without_the_shell_headless_runs_use_the_full_browser(bin_folder: Path) -> None:
    _install(bin_folder, "chromium")
    assert find_chromium() == bin_folder / "chromium"


def test_the_shell_never_opens_a_window(bin_folder: Path) -> None:
    _install(bin_folder, "chromium-headless-shell")
    assert find_chromium(headless=False) is None  # Playwright's own download, which can show one


def test_a_configured_executable_wins(bin_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(bin_folder, "chromium", "chromium-headless-shell")
    assert find_chromium(Path("/opt/chrome"), headless=True) == Path("/opt/chrome")
    monkeypatch.setenv("MAPAY_CHROMIUM_PATH", os.fspath(bin_folder / "chromium"))
    assert find_chromium() == bin_folder / "chromium"
