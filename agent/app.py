"""The aiohttp application: shared resources as typed app keys, background work in cleanup contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from agent import admin, alerts, cashier, intake, notify, ops, platform_key, polling
from agent.accounts import AccountBook
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS, SETTINGS, STORAGE
from agent.browser.agent import install_browser_agent
from agent.codes import CodeBook
from agent.crypto import load_secret_box
from agent.db import Database
from agent.db.storage import StorageHealth
from agent.merchants import MerchantBook
from agent.notify.egress import EGRESS, EgressPolicy
from agent.ops import connections
from agent.platforms import sync_platforms_soon
from agent.providers.base import ProviderFactory
from agent.settings import Settings
from agent.web import headers
from agent.web.listening import LISTENING, Listening


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with Database(app[SETTINGS].database_path, app[STORAGE]) as db:
        await sync_platforms_soon(db, app[SETTINGS])  # a start that has nothing to change writes nothing (full disk)
        app[DB] = db
        app[MERCHANTS] = MerchantBook(db, app[SECRETS], check_seconds=app[SETTINGS].merchant_cache_seconds)
        app[CODES] = CodeBook(db, app[SECRETS])
        app[ACCOUNTS] = AccountBook(db, app[SECRETS])
        yield


def create_app(settings: Settings, *, provider_factory: ProviderFactory | None = None) -> web.Application:
    """Build the gateway. ``provider_factory`` decides how accounts are read (the browser agent by default)."""
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[SECRETS] = load_secret_box(settings)
    app[LISTENING] = Listening(settings.host, settings.port)  # the server adds what it really bound
    app[EGRESS] = EgressPolicy(  # where notifies may go: judged when an order is placed and when one is sent
        allow_private=settings.notify_allow_private, listening=app[LISTENING], public_url=settings.public_url)
    app[STORAGE] = StorageHealth(settings.data_dir)  # exists before the database: listeners may subscribe now
    connections.setup(app)  # outermost middleware: request deadlines for slow clients (agent/ops/connections.py)
    headers.setup(app)  # nosniff, Referrer-Policy everywhere; no framing and a CSP on the admin console
    app.cleanup_ctx.append(_database)  # first in, last out: every other component may use the database
    alerts.setup(app)  # next: every later component may raise an alert, and the alerter outlives them
    ops.setup(app)  # before the workers, so its drain gate exists when they start and it outlives them
    platform_key.setup(app)  # the platform RSA key pair, made on first start (epay V2)
    intake.setup(app)
    cashier.setup(app)
    notify.setup(app)
    if provider_factory is None and settings.browser_agent:
        provider_factory = install_browser_agent(app)  # after the database, before the scheduler
    polling.setup(app, provider_factory)
    admin.setup(app)
    return app
