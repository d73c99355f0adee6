"""The Chromium every account shares: launched (or connected to) on first need, replaced when it dies.

Each account gets its own BrowserContext (cookies and storage isolated). With ``browser_endpoints`` set,
accounts are spread over those remote browsers (``ws://`` -> ``BrowserType.connect`` to a
``playwright run-server``; ``http(s)://`` -> ``connect_over_cdp`` to a Chromium with a debugging port)
instead of a local launch; a lost endpoint is handled like a crashed local browser: reconnected on the
next use, waiting up to the browser timeout for an endpoint that served us before to come back.

A run-server launches a browser per connection with the options in the ``x-playwright-launch-options``
header (JSON, Playwright's JavaScript option names); it applies ``executablePath`` and ``args`` only
when started with ``--unsafe`` and silently drops them otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from agent.browser.launch import LAUNCH_ARGS, find_chromium
from agent.ops import metrics
from agent.settings import Settings

log = structlog.get_logger(__name__)

# Playwright says a browser, context or page went away with messages like these.
_GONE_MARKERS = ("has been closed", "Target closed", "Browser closed", "Connection closed", "browser has disconnected")

LAUNCH_OPTIONS_HEADER = "x-playwright-launch-options"
_RECONNECT_SPACING_SECONDS = 0.25


def browser_gone(exc: BaseException) -> bool:
    """Whether a Playwright error means the browser (or its connection) died, not that the site failed."""
    return isinstance(exc, PlaywrightError) and any(marker in str(exc) for marker in _GONE_MARKERS)


@dataclass
class _Slot:
    """One browser: the local launch (endpoint None) or one remote endpoint."""

    endpoint: str | None
    browser: Browser | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    served: bool = False  # connected at least once: a failed reconnect is an outage worth waiting out


class BrowserRuntime:
    """Hands out fresh contexts, launching or reconnecting the underlying browser as needed."""

    def __init__(self, settings: Settings, *, headless: bool | None = None) -> None:
        self._settings = settings
        self._headless = settings.browser_headless if headless is None else headless
        self._slots = [_Slot(e) for e in settings.browser_endpoints] or [_Slot(None)]
        self._playwright: Playwright | None = None
        self.launches = 0

    async def __aenter__(self) -> BrowserRuntime:
        self._playwright = await async_playwright().start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for slot in self._slots:
            if slot.browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await slot.browser.close()
                slot.browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    async def _start(self, slot: _Slot) -> Browser:
        assert self._playwright is not None, "BrowserRuntime used outside its async with block"
        chromium = self._playwright.chromium
        timeout = self._settings.browser_timeout_seconds * 1000
        if slot.endpoint is None:
            options: dict[str, Any] = {"headless": self._headless, "args": list(LAUNCH_ARGS), "timeout": timeout}
            executable = find_chromium(self._settings.chromium_path)
            if executable is not None:
                options["executable_path"] = str(executable)
            browser = await chromium.launch(**options)
        else:
            browser = await self._connect(slot)
        slot.served = True
        self.launches += 1
        log.info("browser_started", endpoint=slot.endpoint or "local", version=browser.version)
        return browser

    async def _connect(self, slot: _Slot) -> Browser:
        """Connect to a remote endpoint; one that served us before gets the timeout to come back (a
        restarting run-server or grid node), a new one must answer at once (a typo shows fast)."""
        assert self._playwright is not None and slot.endpoint is not None
        chromium = self._playwright.chromium
        timeout = self._settings.browser_timeout_seconds
        deadline = asyncio.get_running_loop().time() + (timeout if slot.served else 0)
        while True:
            try:
                if slot.endpoint.startswith(("ws://", "wss://")):
                    header = json.dumps(self._remote_launch_options())
                    return await chromium.connect(slot.endpoint, timeout=timeout * 1000,
                                                  headers={LAUNCH_OPTIONS_HEADER: header})
                return await chromium.connect_over_cdp(slot.endpoint, timeout=timeout * 1000)
            except PlaywrightError as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                log.info("browser_endpoint_retry", endpoint=slot.endpoint, detail=str(exc).splitlines()[0])
                await asyncio.sleep(_RECONNECT_SPACING_SECONDS)

    def _remote_launch_options(self) -> dict[str, Any]:
        """What a ``playwright run-server`` should launch for us: the local launch's headless mode and flags."""
        options: dict[str, Any] = {"headless": self._headless, "args": list(LAUNCH_ARGS),
                                   "timeout": self._settings.browser_timeout_seconds * 1000}
        if self._settings.browser_remote_executable_path is not None:
            options["executablePath"] = self._settings.browser_remote_executable_path
        return options

    async def _browser(self, slot: _Slot) -> Browser:
        async with slot.lock:
            if slot.browser is None or not slot.browser.is_connected():
                if slot.browser is not None:
                    log.warning("browser_lost", endpoint=slot.endpoint or "local")
                slot.browser = await self._start(slot)
            return slot.browser

    async def new_context(self, account_id: int, storage_state: dict[str, Any] | None = None) -> BrowserContext:
        """A fresh context for one account (restoring cookies and localStorage when given)."""
        slot = self._slots[account_id % len(self._slots)]
        browser = await self._browser(slot)
        options: dict[str, Any] = {"storage_state": storage_state, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                                   "viewport": {"width": 1280, "height": 800}}
        try:
            context = await browser.new_context(**options)
        except PlaywrightError as exc:
            if not browser_gone(exc):
                raise
            slot.browser = None  # died between the check and the call: start over once
            context = await (await self._browser(slot)).new_context(**options)
        context.set_default_timeout(self._settings.browser_timeout_seconds * 1000)
        metrics.browser_context_opened()
        context.on("close", lambda _: metrics.browser_context_closed())
        return context

    async def kill(self, account_id: int) -> None:
        """Close the browser serving ``account_id`` (tests use it to simulate a crash)."""
        slot = self._slots[account_id % len(self._slots)]
        if slot.browser is not None:
            await slot.browser.close()
