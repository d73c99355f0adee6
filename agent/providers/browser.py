"""The Provider of one account, backed by a browser context that runs the platform's profile.

One job at a time per account (a lock). The context is opened only when there is work, restored from
the encrypted saved session, recycled after ``browser_recycle_jobs`` jobs or ``browser_recycle_minutes``,
and closed when idle. A job interrupted by a dead browser is retried once on a relaunched one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from agent.accounts.failures import classify
from agent.browser.snapshot import save_snapshot
from agent.db import now_ms
from agent.ops import metrics
from agent.profiles.hooks import load_hooks
from agent.profiles.http import BrowserGone, call, classify_playwright
from agent.profiles.login import LoginDriver, evaluate_settled
from agent.profiles.model import Profile
from agent.profiles.reader import Reading, read_transactions
from agent.profiles.template import dig
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

if TYPE_CHECKING:
    from agent.browser.agent import BrowserAgent

log = structlog.get_logger(__name__)
T = TypeVar("T")

PROBE_WINDOW = timedelta(minutes=1)
_LOCAL_STORAGE_JS = """() => ({origin: location.origin,
  localStorage: Object.keys(localStorage).map(name => ({name, value: localStorage.getItem(name)}))})"""
SNAPSHOT_SPACING_SECONDS = 60.0  # a long outage must not fill the disk with identical snapshots


class BrowserProvider:
    """Logs into one provider account through its profile and reads its payments."""

    def __init__(self, account: AccountCredentials, profile: Profile, agent: BrowserAgent) -> None:
        self.account = account
        self.profile = profile
        self._agent = agent
        self._lock = asyncio.Lock()
        self._context: BrowserContext | None = None
        self._values: dict[str, str] = {}
        self._origins: list[dict[str, Any]] = []  # localStorage per origin, in storage_state's shape
        self._logged_in = False
        self._driver: LoginDriver | None = None  # a login parked at its one-time-code step
        self._auth_failure: str | None = None
        self._health = Health(HealthState.OK)
        self._jobs = 0
        self._opened_at = 0.0
        self._last_read = 0.0
        self._last_snapshot: dict[str, float] = {}
        self.last_used = time.monotonic()
        self.logins = 0  # fresh logins done by this provider (a restored session is not one)

    @property
    def base_url(self) -> str:
        return self.account.base_url or self.profile.base_url

    @property
    def min_poll_interval(self) -> float:
        """Seconds between two reads the provider tolerates (the poll scheduler honours it too)."""
        return self.profile.min_poll_interval_seconds

    @property
    def auth_failed(self) -> bool:
        return self._auth_failure is not None

    @property
    def has_context(self) -> bool:
        return self._context is not None

    def health(self) -> Health:
        return self._health

    # -- the Provider interface ------------------------------------------------------------------------
    async def login(self) -> None:
        async with self._lock:
            await self._job("login", self._login)

    async def fetch_transactions(self, since: datetime, until: datetime) -> list[ProviderTransaction]:
        async with self._lock:
            return await self._job("transactions", lambda: self._fetch(since, until, spaced=True))

    # -- lifecycle -------------------------------------------------------------------------------------
    async def close(self, *, save: bool = True) -> None:
        """Save the session (when logged in and ``save``) and close the context; a parked OTP login is dropped."""
        async with self._lock:
            await self._close_context(save=save)

    async def close_if_idle(self, idle_seconds: float) -> bool:
        """Close the context when it has had no job for ``idle_seconds`` (never a login waiting for a code)."""
        if self._context is None or self._driver is not None or self._lock.locked():
            return False
        if time.monotonic() - self.last_used < idle_seconds:
            return False
        async with self._lock:
            await self._close_context(save=True)
        log.info("browser_context_idle_closed", account_id=self.account.account_id)
        return True

    async def _open(self, storage_state: dict[str, Any] | None) -> BrowserContext:
        self._context = await self._agent.runtime.new_context(self.account.account_id, storage_state)
        self._opened_at = time.monotonic()
        self._jobs = 0
        return self._context

    async def _close_context(self, *, save: bool) -> None:
        context, self._context = self._context, None
        self._driver = None
        if context is None:
            return
        try:
            if save and self._logged_in:
                await self._save(context)
            await context.close()
        except PlaywrightError:
            pass  # the browser already went away: nothing to save or close
        self._logged_in = False

    async def _save(self, context: BrowserContext) -> None:
        # Cookies from the context; localStorage as read from the login page (Playwright's storage_state()
        # opens a page per origin to read it, which costs most of a second per save).
        state = {"cookies": await context.cookies(), "origins": self._origins}
        await self._agent.sessions.save(self.account.account_id, state, self._values)

    async def _maybe_recycle(self) -> None:
        settings = self._agent.settings
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
        """Record the failure in health, the saved session and a snapshot, as its kind requires.

        The health is what :func:`agent.accounts.classify` says (the scheduler writes the same to the
        account); this method only adds what the browser side owns: the session and the snapshot.
        """
        account_id = self.account.account_id
        driver = self._driver
        if isinstance(exc, SessionExpired):  # the job's caller logs in again; health is not touched yet
            self._logged_in = False
            self._values = {}
            await self._agent.sessions.clear(account_id)
            log.info("provider_session_expired", account_id=account_id, detail=str(exc))
            return
        failure = classify(exc)
        self._health = Health(failure.health, failure.detail)
        if isinstance(exc, NeedsHuman) and not isinstance(exc, HumanCheck):
            log.warning("provider_needs_human", account_id=account_id, detail=str(exc))
            return  # the login stays parked at its one-time-code step
        if isinstance(exc, AuthFailed):
            self._auth_failure = self._auth_failure or str(exc)
        step = exc.step if isinstance(exc, LayoutChanged) else (driver.current_step if driver else job)
        log.warning("provider_failed", account_id=account_id, step=step, error=type(exc).__name__, detail=str(exc))
        await self._snapshot(step, exc)
        if driver is not None:
            self._driver = None
            await self._close_context(save=False)

    async def _snapshot(self, step: str, exc: ProviderError) -> None:
        kind = type(exc).__name__
        if time.monotonic() - self._last_snapshot.get(kind, -SNAPSHOT_SPACING_SECONDS) < SNAPSHOT_SPACING_SECONDS:
            return
        self._last_snapshot[kind] = time.monotonic()
        secrets = [self.account.password, *self._values.values()]
        page = None
        if self._driver is not None:
            secrets += self._driver.secrets
            page = self._driver.page
        if self._context is not None:
            with contextlib.suppress(PlaywrightError):
                secrets += [c["value"] for c in await self._context.cookies()]
        try:
            await save_snapshot(self._agent.settings.data_dir, self.account.account_id, step=step, error=exc,
                                page=page, secrets=secrets, extra={"platform": self.profile.slug})
        except OSError as error:  # a full disk must not replace the provider's failure with its own
            if not self._agent.storage.mark_failed(error):
                log.warning("snapshot_not_saved", account_id=self.account.account_id, error=str(error))

    # -- login -----------------------------------------------------------------------------------------
    async def _login(self) -> None:
        if self._auth_failure is not None:
            raise AuthFailed(f"{self._auth_failure} (not retried until the credentials change)")
        if self._driver is not None:
            await self._run_driver(self._driver)
        elif not (self._logged_in and self._context is not None) and not await self._restore():
            await self._fresh_login()

    async def _restore(self) -> bool:
        """Reuse the saved session if the provider still honours it (checked with a one-minute read)."""
        saved = await self._agent.sessions.load(self.account.account_id)
        if saved is None:
            return False
        await self._close_context(save=False)
        await self._open(saved.storage_state)
        self._values = dict(saved.values)
        self._origins = list(saved.storage_state.get("origins", []))
        now = datetime.now(UTC)
        try:
            await self._fetch(now - PROBE_WINDOW, now, spaced=False, restoring=True)
        except SessionExpired:
            await self._agent.sessions.clear(self.account.account_id)
            await self._close_context(save=False)
            return False
        self._logged_in = True
        log.info("provider_session_restored", account_id=self.account.account_id)
        return True

    async def _fresh_login(self) -> None:
        await self._close_context(save=False)
        context = await self._open(None)
        self._driver = self._driver_for(await context.new_page())
        await self._run_driver(self._driver)

    # -- 人工接管 ------------------------------------------------------------------------------------------
    async def take_over(self, show: Callable[[Page], Awaitable[None]], timeout_seconds: float) -> None:
        """Log in with a person at the page (人工接管): a fresh context of this account, its login page handed to
        ``show`` (the live view) and the steps automation can still do done first (see LoginDriver.hand_over).

        Ends like any login: the session saved, the provider logged in and healthy; a failure is recorded and
        raised like any job's. Holds the account's lock throughout, so no poll runs meanwhile. A refused login
        is forgotten first: a person at the page decides what to try.
        """
        async with self._lock:
            self._auth_failure = None
            self.last_used = time.monotonic()
            try:
                await self._job("takeover", lambda: self._login_with_person(show, timeout_seconds))
            except asyncio.CancelledError:  # the person gave up (取消接管) or the server stops
                self._driver = None
                await self._close_context(save=False)
                raise

    async def _login_with_person(self, show: Callable[[Page], Awaitable[None]], timeout_seconds: float) -> None:
        await self._close_context(save=False)
        self._logged_in = False
        context = await self._open(None)
        driver = self._driver = self._driver_for(await context.new_page())
        await show(driver.page)
        try:
            values = await driver.hand_over(timeout_seconds)
        except PlaywrightError as exc:
            raise classify_playwright(exc, driver.current_step) from exc
        await self._logged_in_by(driver, values)

    def _driver_for(self, page: Page) -> LoginDriver:
        return LoginDriver(
            self.profile, page, base_url=self.base_url, username=self.account.username,
            password=self.account.password, solver=self._agent.solver,
            otp_source=lambda sent_after: self._agent.take_otp(self.account.account_id, sent_after),
            on_captcha=lambda kind, ok: self._agent.solver.stats.record(
                self.account.account_id, self.profile.slug, kind, ok),  # type: ignore[arg-type]
            hooks=load_hooks(self.profile),
        )

    async def _run_driver(self, driver: LoginDriver) -> None:
        if driver.page.is_closed():
            self._driver = None
            await self._fresh_login()
            return
        try:
            values = await driver.run()
        except ProviderError as exc:
            if not isinstance(exc, NeedsHuman):  # a login parked for a one-time code has not ended yet
                metrics.login_attempted(self.profile.slug, ok=False)
            raise
        await self._logged_in_by(driver, values)

    async def _logged_in_by(self, driver: LoginDriver, values: dict[str, str]) -> None:
        """A login ended well (by the driver or a person): keep its values and save the session."""
        metrics.login_attempted(self.profile.slug, ok=True)
        self._values = values
        self._driver = None
        self._logged_in = True
        self.logins += 1
        self._origins = [await evaluate_settled(driver.page, _LOCAL_STORAGE_JS)]
        await driver.page.close()
        assert self._context is not None
        await self._save(self._context)
        log.info("provider_logged_in", account_id=self.account.account_id, platform=self.profile.slug)

    # -- reading ---------------------------------------------------------------------------------------
    async def _fetch(
        self, since: datetime, until: datetime, *, spaced: bool, restoring: bool = False
    ) -> list[ProviderTransaction]:
        if self._auth_failure is not None:
            raise AuthFailed(f"{self._auth_failure} (not retried until the credentials change)")
        if self._driver is not None:
            raise NeedsHuman("login waits for a one-time code")
        if self._context is None or not (self._logged_in or restoring):
            saved = await self._agent.sessions.load(self.account.account_id)
            if saved is None:
                raise SessionExpired("no session: log in first")
            await self._close_context(save=False)
            await self._open(saved.storage_state)
            self._values = dict(saved.values)
            self._origins = list(saved.storage_state.get("origins", []))
            self._logged_in = True
        assert self._context is not None
        await self._refresh_if_due(self._context)
        if spaced:
            await asyncio.sleep(max(0.0, self._last_read + self.min_poll_interval - time.monotonic()))
            self._last_read = time.monotonic()
        reading = Reading(self._context, self.profile, self._values, self.base_url,
                          self._agent.settings.browser_timeout_seconds)
        return await read_transactions(reading, since, until)

    async def _refresh_if_due(self, context: BrowserContext) -> None:
        session = self.profile.session
        refresh, name = session.refresh, session.expires_at
        if refresh is None or name is None or name not in self._values:
            return
        try:
            expires_ms = int(float(self._values[name]))
        except ValueError:
            raise LayoutChanged(f"session.captures.{name}", "expiry is not epoch ms") from None
        if now_ms() < expires_ms - refresh.before_expiry_seconds * 1000:
            return
        data = await call(context.request, refresh.request, self._values, base_url=self.base_url,
                          zone=self.profile.zone, expired=session.expired, step="session.refresh",
                          timeout_seconds=self._agent.settings.browser_timeout_seconds)
        if not refresh.ok.matches(data):
            raise SessionExpired("session.refresh: the provider refused to renew the token")
        try:
            self._values.update({key: str(dig(data, path)) for key, path in refresh.captures.items()})
        except KeyError as exc:
            raise LayoutChanged("session.refresh.captures", f"no {exc.args[0]!r} in the answer") from None
        await self._save(context)
        log.info("provider_token_refreshed", account_id=self.account.account_id)
