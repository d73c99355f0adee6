"""Signed notifies to merchants, from a persisted outbox with retries."""

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from agent.appkeys import DB, MERCHANTS, SETTINGS
from agent.notify.egress import EGRESS
from agent.notify.outbox import requeue
from agent.notify.worker import Notifier
from agent.ops.drain import DRAIN
from agent.platform_key import PLATFORM_KEY

NOTIFIER = web.AppKey("notifier", Notifier)

__all__ = ["NOTIFIER", "Notifier", "requeue", "setup"]


def setup(app: web.Application) -> None:
    """Run the notify worker while the app runs (after the database opens, before it closes)."""
    app.cleanup_ctx.append(_notifier)


async def _notifier(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = app[EGRESS]
    async with aiohttp.ClientSession(
        headers={"User-Agent": "mapay-notify/1.0"},
        connector=aiohttp.TCPConnector(limit=settings.notify_concurrency, socket_factory=policy.socket_factory),
        trust_env=False,  # never through an HTTP(S)_PROXY: the policy judges the merchant's own address
    ) as session:
        notifier = Notifier(app[DB], app[MERCHANTS], settings, session, app[DRAIN], policy, app[PLATFORM_KEY])
        app[NOTIFIER] = notifier
        async with notifier.running():
            yield
