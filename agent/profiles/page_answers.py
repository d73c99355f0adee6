"""What the login page received: the bodies of watched answers, kept even when the page navigates away.

The login driver reads captcha pictures, success signals and token captures from here, and tells a slow or
failing provider ("trouble", requests in flight) from a changed page by what was seen on the wire.
``evaluate_settled`` runs a script in the page in the same spirit: a navigation meanwhile does not lose it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response, Route
from playwright.async_api import Request as PageRequest

from agent.profiles.http import glob_match


@dataclass(slots=True)
class Seen:
    """The body of one answer; ``seq`` orders answers across globs (older attempts have smaller ones)."""

    seq: int
    body: bytes


POLL_SECONDS = 0.1  # how often a waiting login step looks at the page and its answers again
LOST_BODY_FIX = ("wait for success.url or success.element instead of success.response, and capture the value "
                 "from localStorage or a cookie")


class PageAnswers:
    """Bodies of the answers the page receives whose URL matches a watched glob (captcha pictures,
    login answers carrying tokens), plus the HTTP trouble seen, to tell "slow or failing" from "changed".

    A login answer's page often navigates away as soon as it arrives, and Chromium then drops the body before
    it can be read ("No resource with given identifier found"). So the ``routed`` globs (login answers) are
    fetched by us and handed to the page (``page.route`` + ``route.fetch`` + ``route.fulfill``): the body is
    ours before the page sees the answer, whatever it does next.
    """

    def __init__(self, page: Page, globs: set[str], routed: set[str] | None = None) -> None:
        """Keep the answers to ``globs`` and to ``routed``; only the ``routed`` ones are fetched by us."""
        self._globs = globs | (routed or set())
        self._routed = routed or set()
        self._fetching = False  # the routed answers are fetched by us: the page's copies are not read
        self._latest: dict[str, Seen] = {}
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.trouble: str | None = None
        self.lost: dict[str, str] = {}  # glob -> why its latest answer's body could not be read
        self.page = page
        page.on("response", self._on_response)
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_done)
        page.on("requestfailed", self._on_failed)

    def _on_request(self, _: PageRequest) -> None:
        self.in_flight += 1

    def _on_done(self, _: PageRequest) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def _on_failed(self, request: PageRequest) -> None:
        self._on_done(request)
        self.trouble = f"{request.url}: {request.failure or 'failed'}"

    def _on_response(self, response: Response) -> None:
        if response.status == 429 or response.status >= 500:
            self.trouble = f"HTTP {response.status} from {response.url}"
        for glob in self._globs:
            if self._fetching and glob in self._routed:
                continue
            if glob_match(glob, response.url):
                task = asyncio.create_task(self._keep(glob, response))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def route(self) -> None:
        """Start fetching the login answers ourselves (call once, before the first step)."""
        if self._routed:
            await self.page.route(self._is_routed, self._fetch_and_fulfil)
            self._fetching = True

    def _is_routed(self, url: str) -> bool:
        return any(glob_match(glob, url) for glob in self._routed)

    async def _fetch_and_fulfil(self, route: Route) -> None:
        globs = [glob for glob in self._routed if glob_match(glob, route.request.url)]
        try:
            answer = await route.fetch(max_redirects=0)
            body = await answer.body()
        except PlaywrightError as exc:
            for glob in globs:
                self.lost[glob] = str(exc).splitlines()[0]
            with contextlib.suppress(PlaywrightError):
                await route.abort()
            return
        for glob in globs:
            self._store(glob, body)
        with contextlib.suppress(PlaywrightError):  # the page may be gone already: the body is ours anyway
            await route.fulfill(response=answer, body=body)

    async def _keep(self, glob: str, response: Response) -> None:
        try:
            body = await response.body()
        except PlaywrightError as exc:
            self.lost[glob] = str(exc).splitlines()[0]  # the page navigated away before the body was read
            return
        self._store(glob, body)

    def _store(self, glob: str, body: bytes) -> None:
        self._seq += 1
        self._latest[glob] = Seen(self._seq, body)
        self.lost.pop(glob, None)

    def lost_detail(self, glob: str) -> str | None:
        """Why the answer to ``glob`` has no body, and what to change in the profile, when it was lost."""
        reason = self.lost.get(glob)
        if reason is None:
            return None
        return (f"an answer to {glob} came but its body was lost before it could be read ({reason}); "
                f"{LOST_BODY_FIX}")

    @property
    def seq(self) -> int:
        return self._seq

    def latest(self, glob: str) -> Seen | None:
        return self._latest.get(glob)


async def evaluate_settled(page: Page, script: str, arg: Any = None) -> Any:
    """``page.evaluate`` that survives the page navigating away meanwhile (a login page leaving on success):
    the script runs again in the document that took its place."""
    for _ in range(5):
        try:
            return await page.evaluate(script, arg)
        except PlaywrightError as exc:
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("domcontentloaded", timeout=5000)
    return await page.evaluate(script, arg)


_IDENTITY_JS = """() => ({userAgent: navigator.userAgent, origin: {origin: location.origin,
  localStorage: Object.keys(localStorage).map(name => ({name, value: localStorage.getItem(name)}))}})"""


async def page_identity(page: Page) -> tuple[str, dict[str, Any]]:
    """What a logged-in page adds to its cookies for reads without it: its User-Agent and its origin's
    localStorage (as Playwright's ``storage_state`` spells an origin)."""
    found = await evaluate_settled(page, _IDENTITY_JS)
    return found["userAgent"], found["origin"]


def decode_image(value: Any) -> bytes:
    """A picture given as base64, bare or as a ``data:`` URL."""
    text = str(value)
    if text.startswith("data:"):
        text = text.split(",", 1)[1]
    return base64.b64decode(text)
