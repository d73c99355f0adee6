"""人工接管: a person logs an account in through the live view, where automation could not.

The :class:`TakeoverDesk` (one per gateway, on ``app[TAKEOVERS]``) runs at most one take-over per account: the
account's own provider opens its login page in a fresh context of the account's browser (local or remote),
does the steps it still can, and the page is shown in a :class:`LiveView` until the person has logged in. The
session is then saved as after any login, the account's health goes back to ok through the account book and
the poll scheduler reads it at once: no restart.

Who may watch is decided per viewer with one-time **tickets**: the admin page asks for one (bound to the
admin session that asked, by the SHA-256 of its cookie token, and to the account), the WebSocket presents it
once within :data:`TICKET_SECONDS`. A ticket from another session, a used or stale one, opens nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from playwright.async_api import Page

from agent.accounts import AccountBook, classify
from agent.liveview.stream import LiveView
from agent.providers.base import ProviderError

log = structlog.get_logger(__name__)

TICKET_SECONDS = 120.0
TAKEOVER_SECONDS = 900.0  # a person gets a quarter of an hour to finish the login
DONE_KEPT_SECONDS = 30.0  # a finished take-over's page keeps telling how it ended, then the view closes


def session_key(cookie_token: str) -> str:
    """What a ticket is bound to: the admin session, never its cookie itself."""
    return hashlib.sha256(cookie_token.encode()).hexdigest()


@dataclass
class Takeover:
    account_id: int
    started_by: str
    state: str = "starting"  # starting -> live -> done | failed | cancelled
    text: str = "正在打开登录页……"
    view: LiveView | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.state in ("starting", "live")

    def tell(self, state: str, text: str) -> None:
        self.state, self.text = state, text
        if self.view is not None:
            self.view.announce(state, text)


@dataclass(frozen=True, slots=True)
class _Ticket:
    account_id: int
    session: str
    expires: float


class TakeoverDesk:
    """The take-overs of one gateway: start, watch (tickets), cancel; all end when the gateway stops."""

    def __init__(self, app: web.Application, *, timeout_seconds: float = TAKEOVER_SECONDS) -> None:
        self._app = app
        self._timeout = timeout_seconds
        self._takeovers: dict[int, Takeover] = {}
        self._tickets: dict[str, _Ticket] = {}

    def current(self, account_id: int) -> Takeover | None:
        return self._takeovers.get(account_id)

    def start(self, account_id: int, started_by: str) -> Takeover:
        """The account's running take-over, or a new one (a second admin joins the first instead of racing it)."""
        running = self._takeovers.get(account_id)
        if running is not None and running.running:
            return running
        takeover = Takeover(account_id, started_by)
        takeover.task = asyncio.create_task(self._run(takeover), name=f"takeover-{account_id}")
        self._takeovers[account_id] = takeover
        log.info("takeover_started", account_id=account_id, by=started_by)
        return takeover

    async def cancel(self, account_id: int) -> None:
        takeover = self._takeovers.get(account_id)
        if takeover is None or takeover.task is None or not takeover.running:
            return
        takeover.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await takeover.task

    # -- tickets ---------------------------------------------------------------------------------------
    def ticket(self, account_id: int, session: str) -> str:
        now = time.monotonic()
        self._tickets = {k: t for k, t in self._tickets.items() if t.expires > now}
        value = secrets.token_urlsafe(24)
        self._tickets[value] = _Ticket(account_id, session, now + TICKET_SECONDS)
        return value

    def admit(self, account_id: int, value: str, session: str) -> bool:
        """Whether this ticket lets this session watch this account's take-over (a ticket works once)."""
        ticket = self._tickets.pop(value, None) if value else None
        return (ticket is not None and ticket.expires > time.monotonic() and ticket.account_id == account_id
                and hmac.compare_digest(ticket.session, session))

    # -- the take-over ---------------------------------------------------------------------------------
    async def _run(self, takeover: Takeover) -> None:
        from agent.appkeys import ACCOUNTS
        from agent.browser.agent import BROWSER_AGENT  # the desk exists only where the browser agent runs
        from agent.polling import POLL_SCHEDULER
        from agent.providers.browser import BrowserProvider

        book: AccountBook = self._app[ACCOUNTS]
        account_id = takeover.account_id

        async def show(page: Page) -> None:
            takeover.view = LiveView(page)
            await takeover.view.start()
            takeover.tell("live", "请在下方画面中完成登录（验证码、安全验证等）；账号和密码已自动填写")
            takeover.ready.set()

        try:
            provider = self._app[BROWSER_AGENT](await book.credentials(account_id))
            if not isinstance(provider, BrowserProvider):  # its profile is missing or broken: say so
                await provider.login()
                raise RuntimeError("no browser login for this account")
            await provider.take_over(show, self._timeout)
        except asyncio.CancelledError:
            takeover.tell("cancelled", "已取消人工接管")
            raise
        except ProviderError as exc:
            failure = classify(exc)
            await book.record_failure(account_id, failure)
            takeover.tell("failed", f"未能完成登录：{failure.reason}（{failure.detail[:200]}）")
            log.warning("takeover_failed", account_id=account_id, detail=failure.detail)
        except Exception as exc:  # a take-over's trouble must reach the person, not the event loop
            log.exception("takeover_error", account_id=account_id)
            takeover.tell("failed", f"人工接管出错：{type(exc).__name__}")
        else:
            await book.record_ok(account_id)
            scheduler = self._app.get(POLL_SCHEDULER)
            if scheduler is not None:
                scheduler.request_poll(account_id)
            takeover.tell("done", "登录成功：会话已保存，账号已恢复自动读取流水")
            log.info("takeover_done", account_id=account_id)
        finally:
            takeover.ready.set()
            if takeover.view is not None:
                asyncio.get_running_loop().call_later(DONE_KEPT_SECONDS, self._close_view, takeover.view)

    @staticmethod
    def _close_view(view: LiveView) -> None:
        task = asyncio.ensure_future(view.stop())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def close(self) -> None:
        for account_id in list(self._takeovers):
            await self.cancel(account_id)
        for takeover in self._takeovers.values():
            if takeover.view is not None:
                await takeover.view.stop()


TAKEOVERS = web.AppKey("takeovers", TakeoverDesk)


async def takeover_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: a TakeoverDesk on ``app[TAKEOVERS]``; running take-overs end with the app."""
    desk = TakeoverDesk(app)
    app[TAKEOVERS] = desk
    try:
        yield
    finally:
        await desk.close()
