"""The captcha steps of a login: a picture not used yet, the solver's answer typed or dragged, the verdict.

Apart from the step logic in login.py because its state is its own: which pictures were used, one budget of
pictures per login (unreadable and refused alike), and the answer awaiting the provider's verdict. It reaches
the page through the driver (:class:`PageSide`), so a missing element is judged the same way everywhere.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from playwright.async_api import Page

from agent.captcha import CaptchaSolver, clean_text
from agent.profiles.model import CaptchaStep, ImageSource, SliderStep, Step
from agent.profiles.page_answers import POLL_SECONDS, PageAnswers, decode_image
from agent.profiles.template import dig
from agent.providers.base import CaptchaUnsolved, LayoutChanged, ProviderError

log = structlog.get_logger(__name__)

CaptchaResult = Callable[[str, bool], None]


class CaptchaRefused(Exception):
    """The provider refused the captcha answer (or OCR gave nothing usable): try a fresh picture."""


class PageSide(Protocol):
    """What the captcha steps use of the login driver: its page, the step it is at, and its element rules."""

    page: Page
    current_step: str

    async def element(self, selector: str) -> Any: ...

    async def human_needed(self) -> None: ...

    def missing(self, what: str) -> ProviderError: ...


def picture_globs(steps: list[Step]) -> set[str]:
    """The answers carrying captcha pictures, for PageAnswers to keep."""
    globs: set[str] = set()
    for step in steps:
        sources = [step.captcha.image] if step.captcha else []
        sources += [step.slider.background, step.slider.piece] if step.slider else []
        globs |= {s.response for s in sources if s.response}
    return globs


class Captchas:
    """The captcha and slider steps of one login attempt; ``judge`` reports the provider's verdict."""

    def __init__(
        self,
        side: PageSide,
        answers: PageAnswers,
        steps: list[Step],
        *,
        solver: CaptchaSolver,
        on_result: CaptchaResult,
        timeout: float,
    ) -> None:
        self._side = side
        self._answers = answers
        self._solver = solver
        self._on_result = on_result
        self._timeout = timeout
        self._kind: str | None = None  # a submitted answer awaiting the provider's verdict
        self._consumed: dict[str, int] = {}
        self._pictures = max([1, *(s.captcha.attempts for s in steps if s.captcha),
                              *(s.slider.attempts for s in steps if s.slider)])
        self._pictures_left = self._pictures  # one budget for unreadable and refused captchas alike

    async def _image(self, source: ImageSource) -> bytes:
        """A captcha picture the driver has not used yet (waits for the page to load a new one)."""
        key = f"{source.response or source.selector}#{source.field}"
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if source.response is not None:
                seen = self._answers.latest(source.response)
                if seen is not None and seen.seq > self._consumed.get(key, 0):
                    self._consumed[key] = seen.seq
                    if source.field is None:
                        return seen.body
                    try:
                        return decode_image(dig(json.loads(seen.body), source.field))
                    except (KeyError, ValueError) as exc:
                        raise LayoutChanged(self._side.current_step, f"no picture at {source.field!r}") from exc
            else:
                picture = await self._picture(source.selector or "", key)
                if picture is not None:
                    return picture
            await asyncio.sleep(POLL_SECONDS)
        await self._side.human_needed()
        raise self._side.missing(f"no captcha picture from {source.response or source.selector!r}")

    async def _picture(self, selector: str, key: str) -> bytes | None:
        """An <img>'s picture once loaded: its data: URL decoded, else a screenshot of it."""
        element = await self._side.element(selector)
        src = await element.get_attribute("src") or ""
        loaded = await element.evaluate("e => e.complete && e.naturalWidth > 0")
        marker = hash(src)
        if not loaded or not src or self._consumed.get(key) == marker:
            return None
        self._consumed[key] = marker
        return decode_image(src) if src.startswith("data:") else bytes(await element.screenshot())

    def _spend_picture(self) -> None:
        if self._pictures_left <= 0:
            raise CaptchaUnsolved(
                f"{self._side.current_step}: captcha refused or unreadable {self._pictures} times")
        self._pictures_left -= 1

    async def captcha(self, step: CaptchaStep) -> None:
        """Read the picture and type the answer; an unreadable one is refreshed, or refused without refresh."""
        await self._side.human_needed()
        while True:
            self._spend_picture()
            raw = await self._solver.classify(await self._image(step.image))
            answer = clean_text(raw, step.charset, step.length, step.case)
            if answer is not None:
                await (await self._side.element(step.input)).fill(answer)
                self._kind = "image"
                return
            log.info("captcha_unreadable", step=self._side.current_step, length=len(raw))
            if step.refresh is None:
                raise CaptchaRefused()
            await (await self._side.element(step.refresh)).click()

    async def slider(self, step: SliderStep) -> None:
        """Find the gap in the background and drag the handle there, as a mouse would."""
        await self._side.human_needed()
        self._spend_picture()
        background = await self._image(step.background)
        piece = await self._image(step.piece)
        x = await self._solver.slide_x(piece, background) + step.offset
        handle = await self._side.element(step.handle)
        box = await handle.bounding_box()
        if box is None:
            raise self._side.missing(f"slider handle {step.handle!r} is not laid out")
        start_x, start_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        mouse = self._side.page.mouse
        await mouse.move(start_x, start_y)
        await mouse.down()
        await mouse.move(start_x + x, start_y, steps=12)
        await mouse.up()
        self._kind = "slider"

    def judge(self, accepted: bool) -> None:
        """Report the provider's verdict on the answer submitted last, once."""
        if self._kind is not None:
            self._on_result(self._kind, accepted)
            self._kind = None
