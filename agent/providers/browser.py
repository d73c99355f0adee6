"""The Provider of one account: a browser to log in, plain HTTP to read.

A login runs the profile's steps in a fresh context under the gateway's login gate; its result (cookies,
captured values, the User-Agent) becomes the account's saved :class:`ProviderSession` and the browser side
closes. Reads go through one :class:`HttpTransport` per account, or, for ``transport: browser`` profiles,
through a kept context (recycled, closed when idle). A read answered with "log in again" expires the session.
One job at a time per account; a job hit by a dead browser is retried once. The gateway reaches in only
through :class:`LoginServices`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from agent.accounts.failures import classify
from agent.accounts.sessions import ProviderSession, SessionState
from agent.browser.snapshot import FailureSnapshots
from agent.ops import metrics
from agent.profiles.hooks import load_hooks
from agent.profiles.http import BrowserGone, BrowserTransport, HttpTransport, Transport, classify_playwright
from agent.profiles.login import LoginDriver
from agent.profiles.model import Profile
from agent.profiles.page_answers import page_identity
from agent.profiles.reader import Reading, read_transactions
from agent.providers.base import (
    AccountCredentials,
    AuthFailed,
    Health,
    HealthState,
    HumanCheck,
    LayoutChanged,
    NeedsHuman,
    ProviderError,
    ProviderTransaction,
    SessionExpired,
    TransientError,
)
from agent.providers.refresh import refresh_if_due, session_expiry
from agent.providers.services import LoginServices

log = structlog.get_logger(__name__)
T = TypeVar("T")
RESTORE_CHECK_WINDOW = timedelta(minutes=1)  # a restored session is proven by reading this much


class BrowserProvider:
    """Logs into one provider account through its profile and reads its payments."""

    def __init__(self, account: AccountCredentials, profile: Profile, services: LoginServices) -> None:
        self.account = account
        self.profile = profile
        self._services = services
        self._lock = asyncio.Lock()
        self.session = ProviderSession()
        self._context: BrowserContext | None = None  # only while a login needs it, or for browser reads
        self._driver: LoginDriver | None = None  # a login parked at its one-time-code step
        self._http: HttpTransport | None = None
        self._health = Health(HealthState.OK)
        self._jobs = 0
        self._opened_at = 0.0
        self._last_read = 0.0
        self._snapshots = FailureSnapshots(services.settings.data_dir, account.account_id, profile.slug,
                                           services.mark_storage_failed)
        self.last_used = time.monotonic()
        self.logins = 0  # browser logins done by this provider (a restored session is not one)
        self.waiting_since: int | None = None  # the oldest live order (ms): this account's place in the login queue

    @property
    def base_url(self) -> str:
        return self.account.base_url or self.profile.base_url

    @property
    def min_poll_interval(self) -> float:
        """Seconds between two reads the provider tolerates (the poll scheduler honours it too)."""
        return self.profile.min_poll_interval_seconds

    @property
    def auth_failed(self) -> bool:
        return self.session.state is SessionState.REFUSED

    @property
    def has_context(self) -> bool:
        return self._context is not None

    @property
    def reads_in_browser(self) -> bool:
        return self.profile.transport == "browser"

    def health(self) -> Health:
        return self._health

    def note_waiting_since(self, created_at_ms: int | None) -> None:
        """The scheduler tells how long this account's oldest live order has waited (login queue order)."""
        self.waiting_since = created_at_ms

    # -- the Provider interface ------------------------------------------------------------------------
    async def login(self) -> None:
        async with self._lock:
            await self._job("login", self._login)

    async def fetch_transactions(self, since: datetime, until: datetime) -> list[ProviderTransaction]:
        async with self._lock:
            return await self._job("transactions", lambda: self._fetch(since, until, spaced=True))

    # -- lifecycle -------------------------------------------------------------------------------------
    async def close(self, *, save: bool = True) -> None:
        """Save the latest cookies (when ``save``), close the context (and a parked login) and the HTTP client."""
        async with self._lock:
            await self._close_context(save=save)
            await self._close_http(save=save)

    async def close_if_idle(self, idle_seconds: float) -> bool:
        """Close the context and the HTTP client after ``idle_seconds`` without a job (never a login waiting for
        a code); True when a browser context was closed."""
        if (self._context is None and self._http is None) or self._driver is not None or self._lock.locked():
            return False
        if time.monotonic() - self.last_used < idle_seconds:
            return False
        async with self._lock:
            had_context = self._context is not None
            await self._close_context(save=True)
            await self._close_http(save=True)
        if had_context:
            log.info("browser_context_idle_closed", account_id=self.account.account_id)
        return had_context

    @property
    def parked_since_ms(self) -> int | None:
        """When the login parked at its one-time-code step had the code sent; None when none is parked."""
        return None if self._driver is None else self._driver.otp_sent_at

    async def drop_parked_login(self) -> None:
        """Close a parked login's page (too old, or too many parked); the next login has a new code sent."""
        if self._driver is not None and not self._lock.locked():
            async with self._lock:
                await self._close_context(save=False)
            log.info("parked_login_dropped", account_id=self.account.account_id)

    async def _open(self, storage_state: dict[str, Any] | None) -> BrowserContext:
        self._context = await self._services.new_context(self.account.account_id, storage_state)
        self._opened_at = time.monotonic()
        self._jobs = 0
        return self._context

    async def _close_context(self, *, save: bool) -> None:
        """Close the browser context; a logged-in reading context gives its latest cookies to the session first."""
        context, self._context = self._context, None
        self._driver = None
        if context is None:
            return
        try:
            if save and self.session.usable and self.reads_in_browser:
                self.session.cookies = [dict(c) for c in await context.cookies()]
                await self._save()
            await context.close()
        except PlaywrightError:
            pass  # the browser already went away: nothing to save or close

    async def _close_http(self, *, save: bool) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        if save and self.session.usable and http.cookies_changed:
            self.session.cookies = http.cookies()
            await self._save()
        await http.close()

    async def _save(self) -> None:
        await self._services.sessions.save(self.account.account_id, self.session)

    async def _maybe_recycle(self) -> None:
        settings = self._services.settings
        age_minutes = (time.monotonic() - self._opened_at) / 60
        if self._context is not None and self._driver is None and (
            self._jobs >= settings.browser_recycle_jobs or age_minutes >= settings.browser_recycle_minutes
        ):
            log.info("browser_context_recycled", account_id=self.account.account_id, jobs=self._jobs)
            await self._close_context(save=True)

    # -- jobs ------------------------------------------------------------------------------------------
    async def _job(self, name: str, operation: Callable[[], Awaitable[T]]) -> T:
        self.last_used = time.monotonic()
        try:
            for attempt in (1, 2):
                try:
                    result = await operation()
                except BrowserGone as exc:
                    log.warning("browser_gone_during_job", account_id=self.account.account_id, job=name,
                                attempt=attempt, detail=str(exc).splitlines()[0])
                    await self._close_context(save=False)
                    if attempt == 2:
                        raise TransientError(f"{name}: the browser died twice") from exc
                    continue
                self._health = Health(HealthState.OK)
                self._jobs += 1
                await self._maybe_recycle()
                return result
        except ProviderError as exc:
            await self._failed(name, exc)
            raise
        raise AssertionError("unreachable")

    async def _failed(self, job: str, exc: ProviderError) -> None:
        """Record the failure in health, the session and a snapshot, as its kind requires.

        The health is what :func:`agent.accounts.classify` says (the scheduler writes the same to the
        account); this method only adds what the provider owns: the session and the snapshot.
        """
        account_id = self.account.account_id
        driver = self._driver
        if isinstance(exc, SessionExpired):  # the job's caller logs in again; health is not touched yet
            await self._session_ended(exc)
            log.info("provider_session_expired", account_id=account_id, detail=str(exc))
            return
        failure = classify(exc)
        self._health = Health(failure.health, failure.detail)
        if isinstance(exc, NeedsHuman) and not isinstance(exc, HumanCheck):
            log.warning("provider_needs_human", account_id=account_id, detail=str(exc))
            return  # the login stays parked at its one-time-code step
        if isinstance(exc, AuthFailed) and not self.auth_failed:
            self.session.refuse(str(exc))
            await self._services.sessions.clear(account_id)
        step = exc.step if isinstance(exc, LayoutChanged) else (driver.current_step if driver else job)
        log.warning("provider_failed", account_id=account_id, step=step, error=type(exc).__name__, detail=str(exc))
        await self._snapshot(step, exc)
        if driver is not None:
            await self._close_context(save=False)

    async def _session_ended(self, exc: SessionExpired) -> None:
        self.session.expire(str(exc))
        await self._services.sessions.clear(self.account.account_id)
        await self._close_http(save=False)
        if self._driver is None:
            await self._close_context(save=False)

    async def _snapshot(self, step: str, exc: ProviderError) -> None:
        if not self._snapshots.due(exc):
            return
        secrets = [self.account.password, *self.session.values.values(), *(c["value"] for c in self.session.cookies)]
        page = None
        if self._driver is not None:
            secrets += self._driver.secrets
            page = self._driver.page
        if self._context is not None:
            with contextlib.suppress(PlaywrightError):
                secrets += [c["value"] for c in await self._context.cookies()]
        await self._snapshots.take(step, exc, page, secrets)

    # -- login -----------------------------------------------------------------------------------------
    def _refusal(self) -> AuthFailed:
        return AuthFailed(f"{self.session.reason} (not retried until the credentials change)")

    async def _login(self) -> None:
        if self.auth_failed:
            raise self._refusal()
        if self._driver is not None:
            await self._resume_login(self._driver)
        elif not self.session.usable and not await self._restore():
            await self._browser_login()

    async def _restore(self) -> bool:
        """Reuse the saved session if the provider still honours it (checked with a one-minute read, no browser)."""
        saved = await self._services.sessions.load(self.account.account_id)
        if saved is None:
            return False
        self.session = saved
        now = datetime.now(UTC)
        try:
            await self._fetch(now - RESTORE_CHECK_WINDOW, now, spaced=False)
        except SessionExpired as exc:
            await self._session_ended(exc)
            return False
        log.info("provider_session_restored", account_id=self.account.account_id)
        return True

    async def _browser_login(self) -> None:
        """A fresh login in a fresh context, once the login gate lets it run."""
        async with self._services.gate.slot(self.waiting_since):
            await self._run_driver(await self._fresh_driver())

    async def _resume_login(self, driver: LoginDriver) -> None:
        """Go on with a login parked at its one-time-code step (its page holds the SMS's login), or start afresh
        when that page is gone (the browser died)."""
        async with self._services.gate.slot(self.waiting_since):
            await self._run_driver(await self._fresh_driver() if driver.page.is_closed() else driver)

    # -- 人工接管 ------------------------------------------------------------------------------------------
    async def take_over(self, show: Callable[[Page], Awaitable[None]], timeout_seconds: float) -> None:
        """Log in with a person at the page (人工接管): the login page of a fresh context is handed to ``show`` (the
        live view) after the steps automation can still do; it ends like any login. Holds the account's lock,
        skips the login gate (a person waits) and forgets an earlier refusal (the person decides what to try)."""
        async with self._lock:
            self.last_used = time.monotonic()
            try:
                await self._job("takeover", lambda: self._login_with_person(show, timeout_seconds))
            except asyncio.CancelledError:  # the person gave up (取消接管) or the server stops
                await self._close_context(save=False)
                raise

    async def _login_with_person(self, show: Callable[[Page], Awaitable[None]], timeout_seconds: float) -> None:
        self.session.reset()
        driver = await self._fresh_driver()
        await show(driver.page)
        try:
            values = await driver.hand_over(timeout_seconds)
        except PlaywrightError as exc:
            raise classify_playwright(exc, driver.current_step) from exc
        await self._logged_in_by(driver, values)

    async def _fresh_driver(self) -> LoginDriver:
        """A login driver on the login page of a fresh context (nothing of an earlier session kept)."""
        await self._close_context(save=False)
        await self._close_http(save=False)
        context = await self._open(None)
        self._driver = self._driver_for(await context.new_page())
        return self._driver

    def _driver_for(self, page: Page) -> LoginDriver:
        services, account_id = self._services, self.account.account_id
        return LoginDriver(
            self.profile, page, base_url=self.base_url, username=self.account.username,
            password=self.account.password, solver=services.solver,
            otp_source=lambda sent_after: services.take_otp(account_id, sent_after),
            on_captcha=lambda kind, ok: services.solver.stats.record(
                account_id, self.profile.slug, kind, ok),  # type: ignore[arg-type]
            hooks=load_hooks(self.profile),
            on_step=None if services.on_login_step is None else partial(services.on_login_step, account_id),
        )

    async def _run_driver(self, driver: LoginDriver) -> None:
        try:
            values = await driver.run()
        except ProviderError as exc:
            if not isinstance(exc, NeedsHuman):  # a login parked for a one-time code has not ended yet
                metrics.login_attempted(self.profile.slug, ok=False)
            raise
        await self._logged_in_by(driver, values)

    async def _logged_in_by(self, driver: LoginDriver, values: dict[str, str]) -> None:
        """A login ended well (by the driver or a person): export the session, save it, close the browser side."""
        metrics.login_attempted(self.profile.slug, ok=True)
        self._driver = None
        self.logins += 1
        user_agent, origin = await page_identity(driver.page)
        cookies = [dict(c) for c in await driver.page.context.cookies()]
        self.session.logged_in(cookies, [origin], values, user_agent, session_expiry(self.profile, values))
        await driver.page.close()
        await self._save()
        if not self.reads_in_browser:  # reads need no browser: the context goes as soon as the login ends
            await self._close_context(save=False)
        log.info("provider_logged_in", account_id=self.account.account_id, platform=self.profile.slug)

    # -- reading ---------------------------------------------------------------------------------------
    async def _fetch(self, since: datetime, until: datetime, *, spaced: bool) -> list[ProviderTransaction]:
        if self.auth_failed:
            raise self._refusal()
        if self._driver is not None:
            raise NeedsHuman("login waits for a one-time code")
        if not self.session.usable:
            saved = await self._services.sessions.load(self.account.account_id)
            if saved is None:
                raise SessionExpired("no session: log in first")
            self.session = saved
        transport = await self._transport()
        await self._refresh_if_due(transport)
        if spaced:
            await asyncio.sleep(max(0.0, self._last_read + self.min_poll_interval - time.monotonic()))
            self._last_read = time.monotonic()
        reading = Reading(transport, self.profile, self.session.values, self.base_url,
                          self._services.settings.browser_timeout_seconds)
        found = await read_transactions(reading, since, until)
        if self._http is not None and self._http.cookies_changed:  # the provider renewed a cookie: keep it
            self.session.cookies = self._http.cookies()
            await self._save()
        return found

    async def _transport(self) -> Transport:
        if self.reads_in_browser:
            context = self._context or await self._open(self.session.storage_state)
            return BrowserTransport(context.request)
        if self._http is None:
            self._http = HttpTransport(self.session.cookies, self.session.user_agent)
        return self._http

    async def _refresh_if_due(self, transport: Transport) -> None:
        timeout = self._services.settings.browser_timeout_seconds
        if await refresh_if_due(self.session, self.profile, transport, self.base_url, timeout):
            await self._save()
            log.info("provider_token_refreshed", account_id=self.account.account_id)
