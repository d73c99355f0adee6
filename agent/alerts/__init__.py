"""Owner alerts: what needs a person, told in Chinese through the owner's own channels (Apprise URLs).

:class:`Alerter` sends (deduped, rate-limited, never blocking its caller); :class:`AlertWatcher` finds
the conditions in the database. Other components reach the alerter as ``app[ALERTER]``, e.g.
``app[ALERTER].report_storage_failure(str(exc))`` when the database refuses a write.
"""

from collections.abc import AsyncIterator

from aiohttp import web

from agent.alerts.alerter import Alerter
from agent.alerts.messages import Alert, Level
from agent.alerts.watcher import AlertWatcher
from agent.keys import DB, SETTINGS

ALERTER = web.AppKey("alerter", Alerter)

__all__ = ["ALERTER", "Alert", "AlertWatcher", "Alerter", "Level", "setup"]


def setup(app: web.Application) -> None:
    """Run the alerter and its watcher while the app runs; call right after the database's cleanup context,
    so every later component can raise alerts and the alerter outlives them all."""
    app.cleanup_ctx.append(_alerts)


async def _alerts(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with Alerter(app[DB], settings) as alerter:
        app[ALERTER] = alerter
        async with AlertWatcher(app[DB], alerter, settings).running():
            yield
