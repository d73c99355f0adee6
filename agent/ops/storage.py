"""A full (or failing) data disk: the probe that notices it and proves its recovery, and the 503 meanwhile.

The state itself is :class:`agent.db.storage.StorageHealth` on ``app[STORAGE]``; every failed write feeds
it. The probe adds what failed writes cannot tell: free space running out before a write fails, and when
the storage takes writes again (no ordinary write clears the state, so a write that happens to fit in
already allocated space does not make it flap). Recovery needs, for a full disk, enough free space again,
then the database reopened for writing if it was opened read-only, then a real write transaction.
"""

from __future__ import annotations

import errno
import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from agent.appkeys import DB, STORAGE
from agent.db import Database
from agent.db.storage import FULL_BELOW_BYTES, LOG_EVERY_SECONDS, RECOVERED_ABOVE_BYTES, StorageHealth
from agent.ops.health import write_heartbeat
from agent.recurring import RecurringTask

log = structlog.get_logger(__name__)

CHECK_SECONDS = 1.0
RETRY_AFTER_SECONDS = "30"
FALLBACK_MESSAGE = "存储暂时不可写入"

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{message}</title></head>
<body><p>{message}，请稍后重试</p></body></html>
"""


class StorageProbe:
    """Checks free space every second; while the storage is failing, tries to prove it writable again."""

    def __init__(self, db: Database, storage: StorageHealth) -> None:
        self._db = db
        self._storage = storage
        self._other_error_logged_at = -LOG_EVERY_SECONDS

    async def check(self) -> None:
        storage = self._storage
        if not storage.failing:
            if storage.nearly_full():
                storage.mark_failed(
                    OSError(errno.ENOSPC, f"less than {FULL_BELOW_BYTES} bytes free", str(storage.folder))
                )
            return
        if storage.reason == "disk_full" and storage.nearly_full(RECOVERED_ABOVE_BYTES):
            return
        try:
            await self._db.reopen()  # a no-op unless the database was opened read-only
            await write_heartbeat(self._db)
        except Exception as exc:
            if not storage.mark_failed(exc):  # not the storage (another writer holding the lock...)
                self._log_other(exc)
            return
        storage.mark_ok()

    def _log_other(self, exc: Exception) -> None:
        if time.monotonic() - self._other_error_logged_at >= LOG_EVERY_SECONDS:
            self._other_error_logged_at = time.monotonic()
            log.warning("storage_probe_failed", error=f"{type(exc).__name__}: {exc}")

    async def step(self) -> None:
        try:
            await self.check()
        except Exception:  # never let the probe die: it is what brings the gateway back
            log.exception("storage_probe_error")


async def probe_storage(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the storage probe runs while the app does (after the database opened)."""
    probe = StorageProbe(app[DB], app[STORAGE])
    async with RecurringTask(probe.step, CHECK_SECONDS, name="storage-probe", wait_first=True).running():
        yield


def storage_message(storage: StorageHealth) -> str:
    return storage.message or FALLBACK_MESSAGE


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def answer_storage_failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write refused by the storage answers 503 with the reason (intake routes answer in their own shape)."""
    try:
        return await handler(request)
    except Exception as exc:
        storage = request.app[STORAGE]
        if not storage.mark_failed(exc):
            raise
        page = _PAGE.format(message=html.escape(storage_message(storage)))
        return web.Response(
            status=503, text=page, content_type="text/html", headers={"Retry-After": RETRY_AFTER_SECONDS}
        )
