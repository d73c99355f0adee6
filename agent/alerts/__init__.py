"""Owner alerts: what needs a person, told in Chinese through the owner's own channels (Apprise URLs).

:class:`Alerter` sends (deduped, rate-limited, never blocking its caller); :class:`AlertWatcher` finds
the conditions in the database; the storage health (a full disk) is reported as it changes. Other
components reach the alerter as ``app[ALERTER]``.
"""

from collections.abc import AsyncIterator

from aiohttp import web

from agent.alerts.alerter import Alerter
from agent.alerts.messages import Alert, Level
from agent.alerts.watcher import AlertWatcher
from agent.appkeys import DB, SETTINGS, STORAGE
from agent.db.storage import StorageStatus

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

        def storage_changed(status: StorageStatus) -> None:
            if status.failing:
                alerter.report_storage_failure(status.message or status.detail or "")
            else:
                alerter.storage_recovered()

        stop_listening = app[STORAGE].on_change(storage_changed)
        try:
            async with AlertWatcher(app[DB], alerter, settings).running():
                yield
        finally:
            stop_listening()
