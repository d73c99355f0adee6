"""The browser agent: the default ProviderFactory of the app, one Provider per account on one Chromium.

Wiring: ``app.cleanup_ctx.append(browser_agent_ctx)`` after the database context puts a running
:class:`BrowserAgent` on ``app[BROWSER_AGENT]``; it is callable as a ``ProviderFactory``. Chromium starts
only when the first account has work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType

import structlog
from aiohttp import web

from agent.accounts import AccountBook
from agent.accounts.failures import classify
from agent.accounts.otp import take_otp
from agent.accounts.sessions import SessionStore
from agent.appkeys import DB, SECRETS, SETTINGS
from agent.browser.logins import LoginGate, parked_to_close
from agent.browser.runtime import BrowserRuntime
from agent.captcha import CaptchaSolver
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.profiles import ProfileError, profile_for
from agent.providers.base import (
    AccountCredentials,
    Health,
    LayoutChanged,
    NeedsHuman,
    Provider,
    ProviderFactory,
    ProviderTransaction,
)
from agent.providers.browser import BrowserProvider, LoginServices
from agent.recurring import RecurringTask
from agent.settings import Settings

log = structlog.get_logger(__name__)


class BrokenProfileProvider:
    """Stands in for an account whose platform profile is missing or invalid: every job says so."""

    def __init__(self, error: ProfileError) -> None:
        self._error = LayoutChanged("profile", str(error))

    async def login(self) -> None:
        raise self._error

    async def fetch_transactions(self, since: datetime, until: datetime) -> list[ProviderTransaction]:
        raise self._error

    def health(self) -> Health:
        failure = classify(self._error)
        return Health(failure.health, failure.detail)


class BrowserAgent:
    """Owns the browser runtime, the captcha models, the login gate and the per-account providers.

    Providers get :class:`LoginServices` (a context, the solver, one-time codes, the session store, the
    gate), never the agent itself.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        box: SecretBox,
        *,
        headless: bool | None = None,
        runtime: BrowserRuntime | None = None,
        on_login_step: Callable[[int, str], None] | None = None,
    ) -> None:
        """``runtime``: share a running one (tests reuse one Chromium); otherwise the agent starts its own.
        ``on_login_step`` hears (account id, step label) as each login step starts."""
        self.settings = settings
        self._owns_runtime = runtime is None
        self.runtime = runtime or BrowserRuntime(settings, headless=headless)
        self.solver = CaptchaSolver()
        self.sessions = SessionStore(db, box)
        self.storage = db.storage
        self.logins = LoginGate(settings.login_concurrency)
        self._db = db
        self._box = box
        self.services = LoginServices(
            settings=settings,
            new_context=lambda account_id, state: self.runtime.new_context(account_id, state),
            solver=self.solver, take_otp=self.take_otp, sessions=self.sessions, gate=self.logins,
            mark_storage_failed=self.storage.mark_failed, on_login_step=on_login_step,
        )
        self._providers: dict[int, BrowserProvider] = {}
        idle = settings.browser_idle_seconds
        self._reaper = RecurringTask(self._reap_idle, min(5.0, idle / 4), name="browser-reaper", wait_first=True)

    async def __aenter__(self) -> BrowserAgent:
        if self._owns_runtime:
            await self.runtime.__aenter__()
        self._reaper.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._reaper.stop()
        for provider in list(self._providers.values()):
            await provider.close()  # saves each session state
        if self._owns_runtime:
            await self.runtime.__aexit__(exc_type, exc, tb)
        self.solver.close()

    def __call__(self, account: AccountCredentials) -> Provider:
        """The account's provider (the same one until its credentials change or its login was refused)."""
        existing = self._providers.get(account.account_id)
        if existing is not None and existing.account == account and not existing.auth_failed:
            return existing  # asked again after AuthFailed: a person resumed the account, start afresh
        try:
            profile = profile_for(self.settings.profile_dirs, account.platform)
        except ProfileError as exc:
            log.error("profile_invalid", account_id=account.account_id, platform=account.platform, detail=str(exc))
            return BrokenProfileProvider(exc)
        if existing is not None:
            self._retire(existing)
        provider = BrowserProvider(account, profile, self.services)
        self._providers[account.account_id] = provider
        return provider

    def _retire(self, provider: BrowserProvider) -> None:
        # Its credentials changed or were refused: its session is not worth keeping (and the account's
        # revision trigger already dropped the saved one).
        task = asyncio.get_running_loop().create_task(provider.close(save=False))
        task.add_done_callback(lambda t: t.exception())  # surfaced in logs by close() itself

    def provider(self, account_id: int) -> BrowserProvider | None:
        return self._providers.get(account_id)

    @property
    def live_contexts(self) -> int:
        return sum(1 for p in self._providers.values() if p.has_context)

    def captcha_success_rate(self, account_id: int) -> float | None:
        return self.solver.stats.success_rate(account_id)

    async def take_otp(self, account_id: int, sent_after_ms: int) -> str | None:
        return await take_otp(self._db, self._box, account_id, sent_after_ms)

    async def _reap_idle(self) -> None:
        idle = self.settings.browser_idle_seconds
        for provider in list(self._providers.values()):
            try:
                await provider.close_if_idle(idle)
            except Exception as exc:  # one account's trouble must not stop the reaper for the others
                if not self.storage.mark_failed(exc):
                    log.exception("idle_close_failed", account_id=provider.account.account_id)
        await self._close_stale_parked_logins()

    async def _close_stale_parked_logins(self) -> None:
        """Logins parked for a one-time code keep a page each: at most ``login_concurrency`` of them, none
        older than ``login_code_wait_seconds``."""
        parked = [(since, p) for p in self._providers.values() if (since := p.parked_since_ms) is not None]
        settings = self.settings
        for provider in parked_to_close(parked, keep=settings.login_concurrency, now_ms=now_ms(),
                                        max_age_ms=round(settings.login_code_wait_seconds * 1000)):
            try:
                await provider.drop_parked_login()
            except Exception:  # one account's trouble must not stop the reaper for the others
                log.exception("parked_login_close_failed", account_id=provider.account.account_id)


BROWSER_AGENT = web.AppKey("browser_agent", BrowserAgent)


async def browser_agent_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: a running BrowserAgent on ``app[BROWSER_AGENT]`` (needs the database)."""
    async with BrowserAgent(app[SETTINGS], app[DB], app[SECRETS]) as agent:
        app[BROWSER_AGENT] = agent
        yield


def install_browser_agent(app: web.Application) -> ProviderFactory:
    """Run a BrowserAgent with ``app`` and return a ProviderFactory backed by it.

    Call after the database's cleanup context is added and before the poll scheduler's, so the agent
    starts after the database and stops after the scheduler; the factory is usable once the app runs.
    """
    app.cleanup_ctx.append(browser_agent_ctx)

    def factory(account: AccountCredentials) -> Provider:
        return app[BROWSER_AGENT](account)

    return factory


async def test_account(
    settings: Settings,
    db: Database,
    box: SecretBox,
    account_id: int,
    *,
    headed: bool = False,
    window: timedelta = timedelta(hours=1),
    ask_otp: Callable[[], Awaitable[str]] | None = None,
) -> list[ProviderTransaction]:
    """Log in as the account and read its last ``window`` of payments, normalized (``mapay account test``).

    When the provider sends a one-time code, ``ask_otp`` is awaited for it (the CLI prompts the person);
    without it NeedsHuman propagates. Raises the provider errors with their messages.
    """
    from agent.accounts.otp import deliver_otp

    credentials = await AccountBook(db, box).credentials(account_id)
    async with BrowserAgent(settings, db, box, headless=not headed) as agent:
        provider = agent(credentials)
        try:
            await provider.login()
        except NeedsHuman:
            if ask_otp is None:
                raise
            await deliver_otp(db, box, account_id, await ask_otp())
            await provider.login()
        now = datetime.now(UTC)
        return await provider.fetch_transactions(now - window, now)
