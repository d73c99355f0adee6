"""Run a profile's login steps on a real page, as a person would, and classify how it ends.

The driver keeps its place: when the provider asks for a one-time code nobody has typed yet it raises
NeedsHuman and can be resumed later on the same page (the SMS it waits for belongs to that half-done
login). A refused captcha restarts the steps from the first ``goto`` with a fresh picture, up to the
step's ``attempts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from agent.captcha import CaptchaSolver
from agent.db import now_ms
from agent.profiles.captchas import CaptchaRefused, CaptchaResult, Captchas, picture_globs
from agent.profiles.http import BrowserGone, absolute_url, classify_playwright, glob_match, moment_values
from agent.profiles.model import OtpStep, Profile, Step, Wait
from agent.profiles.page_answers import POLL_SECONDS, PageAnswers, evaluate_settled
from agent.profiles.template import dig, render
from agent.providers.base import (
    AuthFailed,
    HumanCheck,
    LayoutChanged,
    NeedsHuman,
    ProviderError,
    TransientError,
)

log = structlog.get_logger(__name__)

OtpSource = Callable[[int], Awaitable[str | None]]


class LoginDriver:
    """One login attempt of one account on one page; ``run`` may be called again after NeedsHuman."""

    def __init__(
        self,
        profile: Profile,
        page: Page,
        *,
        base_url: str,
        username: str,
        password: str,
        solver: CaptchaSolver,
        otp_source: OtpSource,
        on_captcha: CaptchaResult,
        hooks: ModuleType | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """``on_step`` hears each step's label as it starts (``mapay account test`` prints them)."""
        self.profile = profile
        self.page = page
        self._base_url = base_url
        self._values: dict[str, Any] = {
            "username": username,
            "password": password,
            "password_md5": hashlib.md5(password.encode()).hexdigest(),
        }
        self._otp_source = otp_source
        self._hooks = hooks
        self._on_step = on_step
        self._timeout = profile.login.element_timeout_seconds
        self.step_index = 0
        self.current_step = "login"
        self.otp_sent_at: int | None = None
        self._otp_index: int | None = None
        self._attempt_seq = 0  # answers up to this one belong to earlier attempts
        steps = profile.login.steps
        self._has_captcha = any(s.captcha or s.slider for s in steps)
        self.captured: dict[str, str] = {}
        self._answers = PageAnswers(page, picture_globs(steps), self._login_answer_globs())
        self._captchas = Captchas(self, self._answers, steps, solver=solver, on_result=on_captcha,
                                  timeout=self._timeout)
        self._routing = False
        self._person = False  # a person is at the page (hand_over): what they see is theirs to handle

    def _login_answer_globs(self) -> set[str]:
        """Answers read after the page may navigate away: the success signal, waits and token captures."""
        login = self.profile.login
        globs = {c.response for c in self.profile.session.captures.values() if c.response}
        waits = [login.success, *(step.wait for step in login.steps if step.wait)]
        return globs | {wait.response for wait in waits if wait.response}

    @property
    def secrets(self) -> list[str]:
        return [self._values["password"], self._values["password_md5"], *self.captured.values()]

    # -- the run ---------------------------------------------------------------------------------------
    async def run(self) -> dict[str, str]:
        """Log in; returns the captured session values. Raises the provider errors."""
        if not self._routing:
            self._routing = True
            await self._answers.route()
        while True:
            self._attempt_seq = self._answers.seq
            try:
                while self.step_index < len(self.profile.login.steps):
                    step = self.profile.login.steps[self.step_index]
                    self.current_step = step.label(self.step_index)
                    if self._on_step is not None:
                        self._on_step(self.current_step)
                    await self._run_step(step)
                    self.step_index += 1
                self.current_step = "login.success"
                await self._until(self.profile.login.success)
                self._captchas.judge(True)
                return await self._collect()
            except CaptchaRefused:
                if not self._has_captcha:  # the page talks of a captcha the profile does not know
                    raise TransientError(f"{self.current_step}: the page asks for a captcha") from None
                self.step_index = 0  # every new attempt spends a picture: the budget ends the loop
            except PlaywrightError as exc:
                raise classify_playwright(exc, self.current_step) from exc

    async def hand_over(self, timeout_seconds: float) -> dict[str, str]:
        """人工接管: do the steps automation still can, then leave the page to a person until the login succeeds.

        The driver opens the login page and runs the steps in order (typing the account and the stored password,
        so the person never needs it) up to the first one a person must do: a captcha, slider, one-time code or
        hook step, any step but a fill once the page shows the ``human_check`` element, or a step that fails (a
        changed page). From there the person finishes the login in the live view; refusals they see are theirs to
        retry. Returns the captured session values once ``login.success`` signals, as :meth:`run` does; raises
        HumanCheck when nobody finished within ``timeout_seconds``.
        """
        self._person = True
        if not self._routing:
            self._routing = True
            await self._answers.route()
        steps = self.profile.login.steps
        check = self.profile.login.human_check
        try:
            for index, step in enumerate(steps):
                self.current_step = step.label(index)
                if step.captcha or step.slider or step.otp or step.hook:
                    break
                if step.fill is None and check and await self._visible(self.page.locator(check).first):
                    break  # typing is harmless; a click would submit what the person has not done yet
                await self._run_step(step)
        except (ProviderError, PlaywrightError) as exc:
            if index == 0 or (isinstance(exc, PlaywrightError) and isinstance(classify_playwright(exc, ""), BrowserGone)):
                raise  # no login page, or no browser: nothing for the person to do
            log.info("takeover_steps_stopped", step=self.current_step, detail=str(exc).splitlines()[0])
        self.current_step = "login.success (a person logs in)"
        deadline = time.monotonic() + timeout_seconds
        while not await self._signalled(self.profile.login.success, self._attempt_seq):
            if self.page.is_closed():
                raise TransientError("take-over: the login page was closed")
            if time.monotonic() > deadline:
                raise HumanCheck(f"take-over: nobody finished the login within {timeout_seconds:g}s")
            await asyncio.sleep(POLL_SECONDS * 2)
        return await self._collect()

    async def _run_step(self, step: Step) -> None:
        if step.goto is not None:
            await self._goto(render(step.goto, {**self._values, **moment_values()}, self.profile.zone))
        elif step.fill is not None:
            assert step.value is not None
            value = render(step.value, {**self._values, **moment_values()}, self.profile.zone)
            await (await self.element(step.fill)).fill(str(value))
        elif step.click is not None:
            await (await self.element(step.click)).click()
        elif step.captcha is not None:
            await self._captchas.captcha(step.captcha)
        elif step.slider is not None:
            await self._captchas.slider(step.slider)
        elif step.otp is not None:
            await self._otp(step.otp)
        elif step.wait is not None:
            await self._until(step.wait)
        elif step.hook is not None:
            await self._hook(step.hook)

    # -- steps -----------------------------------------------------------------------------------------
    async def _goto(self, path: str) -> None:
        try:
            response = await self.page.goto(absolute_url(self._base_url, path), wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise classify_playwright(exc, self.current_step) from exc
        if response is not None and (response.status == 429 or response.status >= 500):
            raise TransientError(f"{self.current_step}: HTTP {response.status}")
        if response is not None and response.status >= 400:
            raise LayoutChanged(self.current_step, f"HTTP {response.status} for {path}")

    def missing(self, what: str) -> ProviderError:
        """Nothing came: a slow or failing provider is transient, a quiet page that lacks it has changed."""
        if self._answers.trouble or self._answers.in_flight:
            return TransientError(f"{self.current_step}: {what} ({self._answers.trouble or 'still loading'})")
        return LayoutChanged(self.current_step, what)

    async def element(self, selector: str) -> Any:
        """The first visible match of ``selector``; raises when the page asks for a person or lacks it."""
        locator = self.page.locator(selector).first
        try:
            await locator.wait_for(state="visible", timeout=self._timeout * 1000)
        except PlaywrightError as exc:
            if isinstance(classify_playwright(exc, ""), BrowserGone):
                raise
            await self.human_needed()  # the element is missing because the page asks for something else
            raise self.missing(f"no visible element {selector!r}") from None
        return locator

    async def human_needed(self) -> None:
        """Raise HumanCheck when the page shows the profile's ``human_check`` element (not while a person drives)."""
        selector = self.profile.login.human_check
        if selector and not self._person and await self._visible(self.page.locator(selector).first):
            raise HumanCheck(f"{self.current_step}: the page asks for a check only a person can do ({selector})")

    async def _otp(self, step: OtpStep) -> None:
        if self._otp_index is None:
            self._otp_index = self.step_index
        deadline = time.monotonic() + self._timeout
        visible = self.page.locator(step.input).first
        while not await self._visible(visible):
            await self._check_error()
            if time.monotonic() > deadline:
                raise self.missing(f"no one-time code input {step.input!r}")
            await asyncio.sleep(POLL_SECONDS)
        if self.otp_sent_at is None:
            self.otp_sent_at = now_ms()
        code = await self._otp_source(self.otp_sent_at)
        if code is None:
            raise NeedsHuman(f"{self.current_step}: waiting for the one-time code sent by the provider")
        await visible.fill(code)
        if step.submit is not None:
            await (await self.element(step.submit)).click()

    async def _hook(self, name: str) -> None:
        function = getattr(self._hooks, name, None) if self._hooks else None
        if function is None:
            raise LayoutChanged(self.current_step, f"hook {name!r} not found in {self.profile.hooks}")
        result = await function(self.page, dict(self._values))
        if isinstance(result, dict):
            self.captured.update({k: str(v) for k, v in result.items()})

    # -- outcome ---------------------------------------------------------------------------------------
    @staticmethod
    async def _visible(locator: Any) -> bool:
        try:
            return bool(await locator.is_visible())
        except PlaywrightError as exc:
            if isinstance(classify_playwright(exc, ""), BrowserGone):
                raise
            return False  # navigating

    async def _error_text(self) -> str:
        selector = self.profile.login.error_selector
        if selector is None:
            return ""
        try:
            element = self.page.locator(selector).first
            if not await element.is_visible():
                return ""
            return (await element.inner_text()).strip()
        except PlaywrightError as exc:
            if isinstance(classify_playwright(exc, ""), BrowserGone):
                raise
            return ""

    async def _check_error(self) -> None:
        """Raise the classified error when the page shows a refusal (or asks for a person)."""
        await self.human_needed()
        text = await self._error_text()
        if not text:
            return
        patterns = self.profile.login.errors
        if self._otp_index is not None and re.search(patterns.otp, text):
            self.step_index = self._otp_index  # the page still asks for the code: wait for a new one
            raise NeedsHuman(f"{self.current_step}: one-time code refused: {text}")
        if re.search(patterns.captcha, text):
            self._captchas.judge(False)
            raise CaptchaRefused()
        if re.search(patterns.auth, text):
            raise AuthFailed(text)
        raise TransientError(f"{self.current_step}: {text}")

    async def _signalled(self, wait: Wait, since_seq: int) -> bool:
        if wait.url is not None:
            return glob_match(wait.url, self.page.url)
        if wait.element is not None:
            return await self._visible(self.page.locator(wait.element).first)
        assert wait.response is not None
        seen = self._answers.latest(wait.response)
        if seen is None or seen.seq <= since_seq:
            return False
        if wait.ok is None:
            return True
        try:
            return wait.ok.matches(json.loads(seen.body))
        except ValueError:
            return False

    async def _until(self, wait: Wait) -> None:
        """Wait for the signal; while waiting, a refusal shown by the page ends the login."""
        deadline = time.monotonic() + wait.timeout_seconds
        while not await self._signalled(wait, self._attempt_seq):
            await self._check_error()
            if time.monotonic() > deadline:
                lost = self._answers.lost_detail(wait.response) if wait.response else None
                if lost is not None:
                    raise LayoutChanged(self.current_step, f"waited {wait.timeout_seconds:g}s: {lost}")
                raise self.missing(f"waited {wait.timeout_seconds:g}s for {wait.url or wait.element or wait.response}")
            await asyncio.sleep(POLL_SECONDS)

    async def _collect(self) -> dict[str, str]:
        """Read the session values the profile captures (tokens), now that the login succeeded."""
        values = dict(self.captured)
        cookies = {c["name"]: c["value"] for c in await self.page.context.cookies()} \
            if any(c.cookie for c in self.profile.session.captures.values()) else {}
        for name, capture in self.profile.session.captures.items():
            found: Any = None
            if capture.local_storage is not None:
                found = await evaluate_settled(self.page, "key => localStorage.getItem(key)", capture.local_storage)
            elif capture.cookie is not None:
                found = cookies.get(capture.cookie)
            elif capture.response is not None and capture.path is not None:
                seen = self._answers.latest(capture.response)
                try:
                    found = dig(json.loads(seen.body), capture.path) if seen else None
                except (KeyError, ValueError):
                    found = None
            if found is None or found == "":
                lost = self._answers.lost_detail(capture.response) if capture.response else None
                raise LayoutChanged(f"session.captures.{name}", lost or "not found after a successful login")
            values[name] = str(found)
        self.captured = values
        return values
