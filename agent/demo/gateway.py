"""The gateway app with the real browser agent reading the accounts (what ``mapay demo`` and the latency
benchmark run)."""

from __future__ import annotations

from aiohttp import web

from agent.app import create_app
from agent.browser.agent import BROWSER_AGENT, browser_agent_ctx
from agent.providers.base import AccountCredentials, Provider
from agent.settings import Settings


def browser_gateway_app(settings: Settings) -> web.Application:
    """``create_app`` with a BrowserAgent as the provider factory.

    The agent's cleanup context goes right after the database's (create_app adds that one first), so the
    agent starts once the database is open and stops only after the poll scheduler has stopped.
    """
    app: web.Application

    def factory(account: AccountCredentials) -> Provider:
        return app[BROWSER_AGENT](account)

    app = create_app(settings, provider_factory=factory)
    app.cleanup_ctx.insert(1, browser_agent_ctx)
    return app
