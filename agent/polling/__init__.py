"""Polling: read the transaction lists of accounts that have live orders, and probe degraded ones."""

from collections.abc import AsyncIterator

from aiohttp import web

from agent.appkeys import ACCOUNTS, DB, SETTINGS
from agent.notify import NOTIFIER
from agent.ops.drain import DRAIN
from agent.polling.scheduler import PollScheduler
from agent.providers.base import ProviderFactory

POLL_SCHEDULER = web.AppKey("poll_scheduler", PollScheduler)

__all__ = ["POLL_SCHEDULER", "PollScheduler", "setup"]


def setup(app: web.Application, provider_factory: ProviderFactory | None) -> None:
    """Run the poll scheduler (and the expiry sweep) while the app runs; without a factory nothing is polled."""

    async def scheduler(app: web.Application) -> AsyncIterator[None]:
        notifier = app[NOTIFIER]
        poller = PollScheduler(app[DB], app[ACCOUNTS], app[SETTINGS], provider_factory, notifier.wake, app[DRAIN])
        app[POLL_SCHEDULER] = poller
        async with poller.running():
            yield

    app.cleanup_ctx.append(scheduler)
