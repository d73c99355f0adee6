"""Storage health: whether the data folder takes writes, fed by every write that fails for want of it.

Failures that say nothing about the data (a constraint, a busy lock) are not storage failures; those that
do are sorted into three kinds:

- ``disk_full``: SQLite's ``SQLITE_FULL``, ``OSError`` ``ENOSPC``/``EDQUOT``, and any I/O error while the
  folder's file system has (almost) no free space left (SQLite reports a ``-shm`` file it cannot grow as
  ``SQLITE_IOERR_SHMSIZE``, not as full);
- ``io_error``: ``SQLITE_IOERR`` and ``EIO`` otherwise;
- ``read_only``: ``SQLITE_READONLY`` and ``EROFS`` (a file system remounted read-only after errors).

:class:`StorageHealth` is the one place they are recorded: :class:`~agent.db.Database` reports every failed
transaction to it, background loops hand it what they catch (and log nothing more when it takes it), and
it logs each kind once a minute instead of once per failure. ``on_change`` listeners hear the transitions
(failing, and back to ok); the recovery itself is proved by ``agent.ops.storage``'s probe.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog

log = structlog.get_logger(__name__)

FaultKind = Literal["disk_full", "io_error", "read_only"]

MESSAGES: dict[FaultKind, str] = {
    "disk_full": "磁盘已满，无法写入数据库",
    "io_error": "磁盘读写错误，无法写入数据库",
    "read_only": "存储为只读，无法写入数据库",
}
FULL_BELOW_BYTES = 1024 * 1024  # less free space than this is a full disk, even before a write fails
RECOVERED_ABOVE_BYTES = 4 * 1024 * 1024  # a full disk is trusted again from this much free space on
LOG_EVERY_SECONDS = 60.0

_SQLITE_KINDS: dict[int, FaultKind] = {
    sqlite3.SQLITE_FULL: "disk_full", sqlite3.SQLITE_IOERR: "io_error", sqlite3.SQLITE_READONLY: "read_only",
}
_ERRNO_KINDS: dict[int, FaultKind] = {
    errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EIO: "io_error", errno.EROFS: "read_only",
}


class StorageUnavailable(Exception):
    """A write refused without trying: the database was opened read-only because the storage took no writes."""

    def __init__(self, kind: FaultKind) -> None:
        super().__init__(MESSAGES[kind])
        self.kind = kind


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """What listeners are handed: a snapshot, still true when an async listener gets to run."""

    failing: bool
    reason: FaultKind | None = None  # machine-readable kind
    message: str | None = None  # Chinese, safe to show
    detail: str | None = None  # the first failure's own text
    failing_since: int | None = None  # ms epoch


Listener = Callable[[StorageStatus], Awaitable[None] | None]


def free_bytes(folder: Path) -> int | None:
    """Space an unprivileged writer may still use in ``folder``'s file system; None when it reports no size."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_blocks == 0:  # pseudo file systems that report no size: no opinion
        return None
    return stats.f_bavail * stats.f_frsize


class StorageHealth:
    """The data folder's write health; ``mark_failed`` / ``mark_ok`` move it, ``on_change`` listens."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._status = StorageStatus(failing=False)
        self._listeners: list[Listener] = []
        self._pending: set[asyncio.Future[None]] = set()
        self._logged_at: dict[FaultKind, float] = {}
        self._unlogged: dict[FaultKind, int] = {}

    @property
    def status(self) -> StorageStatus:
        return self._status

    @property
    def failing(self) -> bool:
        return self._status.failing

    @property
    def failing_since(self) -> int | None:
        return self._status.failing_since

    @property
    def reason(self) -> FaultKind | None:
        return self._status.reason

    @property
    def message(self) -> str | None:
        return self._status.message

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(status)`` on every transition (ok -> failing, failing -> ok); returns an unsubscribe.

        A listener may be a coroutine function (it is run as a task) and must not raise: errors are logged.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def kind_of(self, exc: BaseException) -> FaultKind | None:
        """The storage failure ``exc`` (or the error it was raised from) stands for, or None."""
        seen = 0
        current: BaseException | None = exc
        while current is not None and seen < 5:
            kind = self._own_kind(current)
            if kind is not None:
                if kind == "io_error" and self.nearly_full():
                    return "disk_full"
                return kind
            current, seen = current.__cause__ or current.__context__, seen + 1
        return None

    def _own_kind(self, exc: BaseException) -> FaultKind | None:
        if isinstance(exc, StorageUnavailable):
            return exc.kind
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", None)
            return None if code is None else _SQLITE_KINDS.get(code & 0xFF)
        if isinstance(exc, OSError) and exc.errno is not None:
            return _ERRNO_KINDS.get(exc.errno)
        return None

    def nearly_full(self, below: int = FULL_BELOW_BYTES) -> bool:
        free = free_bytes(self.folder)
        return free is not None and free < below

    def mark_failed(self, exc: BaseException) -> bool:
        """Record ``exc`` if it is a storage failure; returns whether it was (then it has been logged).

        The first failure is logged at once (error level); later ones are counted and summed up in one line
        per kind and minute, so a loop retrying every second does not flood the log.
        """
        kind = self.kind_of(exc)
        if kind is None:
            return False
        now = time.monotonic()
        detail = f"{type(exc).__name__}: {exc}"[:300]
        if not self._status.failing:
            self._status = StorageStatus(True, kind, MESSAGES[kind], detail, time.time_ns() // 1_000_000)
            self._logged_at = {kind: now}
            self._unlogged = {}
            log.error("storage_failing", reason=kind, message=MESSAGES[kind], detail=detail)
            self._notify()
            return True
        self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
        if now - self._logged_at.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            log.warning(
                "storage_still_failing", reason=kind, message=MESSAGES[kind], detail=detail,
                failures=self._unlogged.pop(kind), failing_for_s=self._failing_for_s(),
            )
            self._logged_at[kind] = now
        return True

    def mark_ok(self) -> None:
        """The storage took a write again (proved by the probe); logs the recovery once."""
        if not self._status.failing:
            return
        log.info(
            "storage_recovered", reason=self._status.reason, failing_for_s=self._failing_for_s(),
            unlogged_failures=sum(self._unlogged.values()),
        )
        self._status = StorageStatus(failing=False)
        self._notify()

    def _failing_for_s(self) -> float:
        since = self._status.failing_since
        return 0.0 if since is None else round(time.time() - since / 1000, 1)

    def _notify(self) -> None:
        status = self._status
        for listener in list(self._listeners):
            try:
                result = listener(status)
                if result is not None:
                    task = asyncio.ensure_future(result)
                    self._pending.add(task)
                    task.add_done_callback(self._listener_done)
            except Exception:  # a listener's bug must not break the write path that reported the failure
                log.exception("storage_listener_failed")

    def _listener_done(self, task: asyncio.Future[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("storage_listener_failed", error=repr(task.exception()))
