"""The Chromium every account shares: launched (or connected to) on first need, replaced when it dies.

Each account gets its own BrowserContext (cookies and storage isolated). With ``browser_endpoints`` set,
accounts are spread over those remote browsers (``ws://`` -> ``BrowserType.connect`` to a
``playwright run-server``; ``http(s)://`` -> ``connect_over_cdp`` to a Chromium with a debugging port)
instead of a local launch; a lost endpoint is handled like a crashed local browser: reconnected on the
next use. With several endpoints an account prefers one (``account_id`` modulo their number) and moves to
the next that answers while its own is down, coming back when it is up again; a single endpoint that
served us before gets the browser timeout to come back.

Chromium's own sandbox is used when :func:`~agent.browser.launch.sandbox_decision` says it can run
(``MAPAY_CHROMIUM_SANDBOX``), for the local launch and in the options sent to a run-server alike.

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

from agent.browser.launch import BROWSER_FLAGS, SandboxDecision, find_chromium, sandbox_decision
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
        self.sandbox = SandboxDecision(False, "not decided yet")

    async def __aenter__(self) -> BrowserRuntime:
        self.sandbox = await asyncio.to_thread(sandbox_decision, self._settings.chromium_sandbox)
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

    async def _start(self, slot: _Slot, *, wait: bool = True) -> Browser:
        assert self._playwright is not None, "BrowserRuntime used outside its async with block"
        chromium = self._playwright.chromium
        timeout = self._settings.browser_timeout_seconds * 1000
        if slot.endpoint is None:
            options: dict[str, Any] = {"headless": self._headless, "args": list(BROWSER_FLAGS), "timeout": timeout,
                                       "chromium_sandbox": self.sandbox.enabled}
            executable = find_chromium(self._settings.chromium_path, headless=self._headless)
            if executable is not None:
                options["executable_path"] = str(executable)
            browser = await chromium.launch(**options)
        else:
            browser = await self._connect(slot, wait=wait)
        slot.served = True
        self.launches += 1
        log.info("browser_started", endpoint=slot.endpoint or "local", version=browser.version)
        return browser

    async def _connect(self, slot: _Slot, *, wait: bool = True) -> Browser:
        """Connect to a remote endpoint; one that served us before gets the timeout to come back (a
        restarting run-server or grid node) unless ``wait`` is off, a new one must answer at once (a typo
        shows fast)."""
        assert self._playwright is not None and slot.endpoint is not None
        chromium = self._playwright.chromium
        timeout = self._settings.browser_timeout_seconds
        deadline = asyncio.get_running_loop().time() + (timeout if slot.served and wait else 0)
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
        options: dict[str, Any] = {"headless": self._headless, "args": list(BROWSER_FLAGS),
                                   "chromiumSandbox": self.sandbox.enabled,
                                   "timeout": self._settings.browser_timeout_seconds * 1000}
        if self._settings.browser_remote_executable_path is not None:
            options["executablePath"] = self._settings.browser_remote_executable_path
        return options

    async def _browser(self, slot: _Slot, *, wait: bool = True) -> Browser:
        async with slot.lock:
            if slot.browser is None or not slot.browser.is_connected():
                if slot.browser is not None:
                    log.warning("browser_lost", endpoint=slot.endpoint or "local")
                    slot.browser = None
                slot.browser = await self._start(slot, wait=wait)
            return slot.browser

    async def _pick(self, account_id: int) -> tuple[_Slot, Browser]:
        """The account's own browser; while that one is down, the next endpoint that answers; when none
        does, wait for its own as a single endpoint would."""
        first = account_id % len(self._slots)
        order = [self._slots[(first + i) % len(self._slots)] for i in range(len(self._slots))]
        if len(order) > 1:
            for slot in order:
                try:
                    return slot, await self._browser(slot, wait=False)
                except PlaywrightError as exc:
                    log.warning("browser_endpoint_down", endpoint=slot.endpoint, account_id=account_id,
                                detail=str(exc).splitlines()[0])
        return order[0], await self._browser(order[0])

    async def new_context(self, account_id: int, storage_state: dict[str, Any] | None = None) -> BrowserContext:
        """A fresh context for one account (restoring cookies and localStorage when given)."""
        slot, browser = await self._pick(account_id)
        options: dict[str, Any] = {"storage_state": storage_state, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                                   "viewport": {"width": 1280, "height": 800}}
        try:
            context = await browser.new_context(**options)
        except PlaywrightError as exc:
            if not browser_gone(exc):
                raise
            slot.browser = None  # died between the check and the call: start over once
            slot, browser = await self._pick(account_id)
            context = await browser.new_context(**options)
        if slot.endpoint is not None:
            own = slot is self._slots[account_id % len(self._slots)]
            log.info("browser_context_opened" if own else "browser_failover", account_id=account_id,
                     endpoint=slot.endpoint)
        context.set_default_timeout(self._settings.browser_timeout_seconds * 1000)
        metrics.browser_context_opened()
        context.on("close", lambda _: metrics.browser_context_closed())
        return context

    async def kill(self, account_id: int) -> None:
        """Close the browser serving ``account_id`` (tests use it to simulate a crash)."""
        slot = self._slots[account_id % len(self._slots)]
        if slot.browser is not None:
            await slot.browser.close()
