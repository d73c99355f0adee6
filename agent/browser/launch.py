"""Where Chromium is and how to start it on a machine with no internet."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Without these, Chromium keeps dialing Google's services, which fail on a closed network and waste time.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(configured: Path | None = None) -> Path | None:
    """The configured executable, else the system's Chromium; None means Playwright's own download."""
    if configured is not None:
        return configured
    env = os.environ.get("MAPAY_CHROMIUM_PATH")
    if env:
        return Path(env)
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
