"""What the page looked like when a provider step failed: screenshot, HTML and the failing step.

Written under ``<data_dir>/snapshots/<account>/<timestamp>/`` so a maintainer can repair a profile.
Every known secret (password and its md5, captured tokens, cookie values) is replaced by ``***`` in
the text files; the screenshot shows password inputs masked, as the page does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from agent.redaction import redact_data, redact_values

log = structlog.get_logger(__name__)

MIN_SECRET_LENGTH = 4  # shorter strings would blank out ordinary words


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (longest first, so a token containing another is fully hidden) masked."""
    return redact_values(text, secrets, min_length=MIN_SECRET_LENGTH)


async def save_snapshot(
    root: Path,
    account_id: int,
    *,
    step: str,
    error: BaseException,
    page: Page | None,
    secrets: Iterable[str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the snapshot folder and return its path (best effort: a dead page still gets error.json)."""
    secrets = list(secrets)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = root / "snapshots" / str(account_id) / stamp
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "account_id": account_id,
        "step": step,
        "error": type(error).__name__,
        "detail": str(error),
        "at": time.time(),
        **(extra or {}),
    }
    if page is not None and not page.is_closed():
        info["url"] = page.url
        try:
            html = await page.content()
            (folder / "page.html").write_text(redact(html, secrets), encoding="utf-8")
            await page.screenshot(path=str(folder / "screenshot.png"), full_page=True, timeout=5000)
        except PlaywrightError as exc:
            info["page_error"] = str(exc).splitlines()[0]
    text = json.dumps(redact_data(info), ensure_ascii=False, indent=2, default=str)
    (folder / "error.json").write_text(redact(text, secrets), encoding="utf-8")
    log.warning("snapshot_saved", account_id=account_id, step=step, error=type(error).__name__, path=str(folder))
    return folder


class FailureSnapshots:
    """The snapshots of one account's failures: at most one per kind of failure a minute (a long outage must
    not fill the disk with identical snapshots), and a full disk never replaces the failure with its own."""

    SPACING_SECONDS = 60.0

    def __init__(self, root: Path, account_id: int, platform: str, mark_storage_failed: Callable[[BaseException], bool]):
        self._root = root
        self._account_id = account_id
        self._platform = platform
        self._mark_storage_failed = mark_storage_failed
        self._last: dict[str, float] = {}

    def due(self, error: BaseException) -> bool:
        """Whether a snapshot of this kind of failure is due now (if so, it counts as taken)."""
        kind, now = type(error).__name__, time.monotonic()
        if now - self._last.get(kind, -self.SPACING_SECONDS) < self.SPACING_SECONDS:
            return False
        self._last[kind] = now
        return True

    async def take(self, step: str, error: BaseException, page: Page | None, secrets: Iterable[str]) -> None:
        try:
            await save_snapshot(self._root, self._account_id, step=step, error=error, page=page, secrets=secrets,
                                extra={"platform": self._platform})
        except OSError as failure:
            if not self._mark_storage_failed(failure):
                log.warning("snapshot_not_saved", account_id=self._account_id, error=str(failure))
