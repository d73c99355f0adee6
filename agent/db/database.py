"""The database resource: an aiosqlite connection opened as an async context manager."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite
import structlog

from agent.db.storage import StorageHealth, StorageUnavailable
from agent.recurring import RecurringTask

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

_CHECKPOINT_INTERVAL_SECONDS = 1.0
_WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the WAL file is cut back to after a checkpoint
_WAL_REWIND_FRAMES = 16_384  # pages (64 MB) past which the background checkpoint makes the WAL start over


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _migrations() -> list[tuple[int, str]]:
    """(version, sql) for every ``NNNN_name.sql`` file shipped in ``agent/db/migrations``."""
    folder = resources.files("agent.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """One shared connection; writes are serialised through :meth:`transaction`.

    SQLite allows a single writer, so one connection with an asyncio lock around write transactions is
    both the fastest and the simplest correct arrangement; readers see committed data thanks to WAL.
    Beside the writer: a read-only connection for plain reads and one that checkpoints the WAL.
    """

    def __init__(self, path: Path | str, storage: StorageHealth | None = None) -> None:
        self.path = Path(path)
        self.storage = storage or StorageHealth(self.path.parent)  # told about every write that fails
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._frozen: list[aiosqlite.Connection] = []  # read-only views used before the storage took writes
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoints: RecurringTask | None = None
        self._write_lock = asyncio.Lock()
        self._reopen_lock = asyncio.Lock()

    async def __aenter__(self) -> Database:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._open()
        except Exception as exc:
            # A full disk cannot even create the -shm file a WAL database needs for reading. When the data is
            # complete without a WAL (the last process closed cleanly) and fully migrated, serve it read-only;
            # the storage probe calls reopen() once writes are possible again.
            if not self.storage.mark_failed(exc) or not await self._open_frozen():
                raise
            log.warning("database_opened_read_only", path=str(self.path), reason=self.storage.reason)
        return self

    async def _open(self) -> None:
        """The writer (migrated), the reader and the checkpointer; on failure nothing stays open."""
        try:
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
            self._conn.row_factory = aiosqlite.Row
            for pragma in (
                "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000",
                "wal_autocheckpoint=0", f"journal_size_limit={_WAL_SIZE_LIMIT}",  # see _checkpoint_forever
            ):
                await self._conn.execute(f"PRAGMA {pragma}")
            await self._migrate()
            # A second connection for plain reads, so a read never sees another task's uncommitted writes.
            reader = await aiosqlite.connect(self.path, isolation_level=None)
            reader.row_factory = aiosqlite.Row
            self._reader = reader
            for pragma in ("foreign_keys=ON", "busy_timeout=5000", "query_only=ON"):
                await reader.execute(f"PRAGMA {pragma}")
            if str(self.path) != ":memory:":
                self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
                checkpointer = self._checkpointer
                self._checkpoints = RecurringTask(
                    lambda: self._checkpoint(checkpointer), _CHECKPOINT_INTERVAL_SECONDS, name="wal-checkpointer",
                    wait_first=True,
                )
                self._checkpoints.start()
        except BaseException:
            await self._close()
            raise

    async def _open_frozen(self) -> bool:
        """A read-only connection that needs no -wal/-shm file; False when it would not show every commit."""
        wal = self.path.with_name(self.path.name + "-wal")
        if str(self.path) == ":memory:" or not self.path.exists() or (wal.exists() and wal.stat().st_size > 0):
            return False
        try:
            conn = await aiosqlite.connect(self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        except sqlite3.Error:
            return False
        conn.row_factory = aiosqlite.Row
        try:
            applied = {row[0] for row in await conn.execute_fetchall("SELECT version FROM schema_migrations")}
        except sqlite3.Error:
            applied = set()
        if not {version for version, _ in _migrations()} <= applied:  # a migration to apply needs the writer
            await conn.close()
            return False
        self._reader = conn
        self._frozen.append(conn)
        return True

    @property
    def writable(self) -> bool:
        """False while the database is open read-only (it was opened on storage that took no writes)."""
        return self._conn is not None

    async def reopen(self) -> None:
        """Open the writer, a live reader and the checkpointer after a read-only start; no-op when writable.

        The read-only connection stays open until the database closes: a read may still be running on it.
        """
        async with self._reopen_lock:
            if self._conn is not None:
                return
            frozen_reader = self._reader
            try:
                await self._open()
            except BaseException:
                self._reader = frozen_reader
                raise
            log.info("database_reopened", path=str(self.path))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()
        for conn in self._frozen:
            await conn.close()
        self._frozen = []

    async def _close(self) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.stop()
        for conn in (self._checkpointer, self._reader, self._conn):
            if conn is not None and conn not in self._frozen:
                with contextlib.suppress(sqlite3.Error):  # a storage failure must not hide the others' close
                    await conn.close()  # the last connection to close checkpoints what is left
        self._conn = self._reader = self._checkpointer = self._checkpoints = None

    async def _checkpoint(self, conn: aiosqlite.Connection) -> None:
        """Copy committed pages from the WAL into the database file (every second), on a connection of its own.

        Left to itself SQLite checkpoints inside whichever COMMIT crosses 1,000 pages, on the writer's
        thread (with an fsync), and every order waiting for that transaction waits for the copy too. A
        PASSIVE checkpoint blocks nobody, but while writes keep coming it never catches up with them, and the
        WAL only starts again from the beginning after a checkpoint that did: so once the WAL is long, the
        few frames written since are copied with writers held off, and the next write rewinds the WAL.
        """
        try:
            frames = await _checkpoint(conn, "PASSIVE")
            if frames > _WAL_REWIND_FRAMES:
                async with self._write_lock:
                    await _checkpoint(conn, "RESTART")
        except sqlite3.Error as exc:
            if not self.storage.mark_failed(exc):  # a full disk is logged there, once a minute
                log.warning("wal_checkpoint_failed", error=str(exc))

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            if self._frozen:
                raise StorageUnavailable(self.storage.reason or "io_error")
            raise RuntimeError("database is not open")
        return self._conn

    async def _migrate(self) -> None:
        """Apply the migrations not applied yet; a database that has them all is not written to at all."""
        exists = await self.conn.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if not list(exists):
            await self.conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
        async with self.conn.execute("SELECT version FROM schema_migrations") as cursor:
            applied = {row[0] for row in await cursor.fetchall()}
        for version, sql in _migrations():
            if version in applied:
                continue
            async with self.transaction() as conn:
                # executescript would COMMIT on its own; run statements one by one inside our transaction.
                for statement in _split_sql(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, now_ms())
                )
            log.info("migration_applied", version=version)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on any exception, COMMIT's included.

        A storage failure (full disk, I/O error) is reported to :attr:`storage` before it propagates.
        """
        async with self._write_lock:
            try:
                conn = self.conn
                # Inside the try: a task cancelled while awaiting BEGIN still has it run on aiosqlite's thread,
                # and the connection would stay in that transaction for every later writer.
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn is not None:
                    # BEGIN itself failed, or a failed COMMIT already rolled back: nothing to undo then.
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.execute("ROLLBACK")
                if isinstance(exc, Exception):
                    self.storage.mark_failed(exc)
                raise

    async def run_transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` as one write transaction in a single trip to the connection's thread.

        Each ``await conn.execute`` is a round trip between the event loop and aiosqlite's thread, and under
        load every trip waits for the GIL; a hot path with many statements (allocation) runs them all in one
        synchronous call instead. Work queued on the same thread runs in order, so a caller cancelled
        mid-trip still leaves the transaction finished before the next writer's BEGIN.
        """
        async with self._write_lock:
            try:
                conn = self.conn
                # aiosqlite has no public "run this on the connection's thread"; _execute is what its methods use.
                return await conn._execute(_in_transaction, conn._conn, work)
            except Exception as exc:
                self.storage.mark_failed(exc)
                raise

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Read committed rows through the read-only connection.

        Execute and fetch happen in one call on the connection's thread, so no statement stays open across
        an ``await``: an open statement would hold its read snapshot and make overlapping reads miss newer
        commits. One call is also one thread hop instead of three.
        """
        try:
            return list(await self.reader.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            self.storage.mark_failed(exc)
            raise

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """The first row of a query; meant for lookups by key (all rows are fetched in the same call)."""
        return next(iter(await self.fetchall(sql, params)), None)

    async def fetchval(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


async def _checkpoint(conn: aiosqlite.Connection, mode: str) -> int:
    """Run a checkpoint; returns how many frames the WAL held."""
    rows = await conn.execute_fetchall(f"PRAGMA wal_checkpoint({mode})")
    return int(next(iter(rows))[1])


def _in_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")  # inside the try: a COMMIT refused by a full disk may leave the transaction open
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error that got us here is the one to report
                conn.execute("ROLLBACK")
        raise
    return result


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; a trigger's ``BEGIN ... END`` body stays whole.

    Lines are gathered until SQLite itself calls the text a complete statement (``--`` comments dropped
    first: our migrations keep no ``--`` inside literals).
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines():
        pending += line.split("--", 1)[0] + "\n"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip().rstrip(";").strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return [statement for statement in statements if statement]
