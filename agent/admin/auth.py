"""Administrators: argon2 password hashes, server-side sessions and the sign-in throttle.

The session cookie carries a random token; only its SHA-256 is stored, so a copy of the database cannot be
replayed as a sign-in. Every session also holds the CSRF token its forms must echo.

Failed sign-ins are throttled per (username, client address), never per username or per address alone:
behind a reverse proxy a per-address lock would let one guessing client lock everybody out, and a
per-username lock would let anyone lock out the real administrator. After ``max_failures`` failures of
one pair, each further attempt of that pair must wait 2, 4, 8 ... seconds (at most ``max_wait_ms``) after
the previous failure; a client that has not failed signs in at once, and its success forgets only its own
failures. Each attempt is written down before the password is checked, so parallel requests cannot slip
through together.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.audit import write_audit
from agent.db import Database, now_ms

_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password
# (the hash of a random string nobody kept, made with the hasher's default parameters).
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$m3p7CfhJTDTUYOigIHcCKQ$rg26W1jwOnhbI2Ayrdq7BIKPMkmswubbLGAEUpVtwEg"

MIN_PASSWORD_LENGTH = 10
FAILURE_MEMORY_MS = 24 * 3_600_000  # failures older than this are forgotten (and deleted)


class AdminExists(ValueError):
    """The username is already taken."""


class WeakPassword(ValueError):
    """The password is too short to protect a payment back office."""


@dataclass(frozen=True, slots=True)
class Admin:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Session:
    admin: Admin
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in attempt: a new session token, or why there is none.

    ``wait_seconds`` > 0: this client must wait that long before trying this username again. With
    ``checked`` False the attempt came too early and the password was not even looked at.
    """

    token: str | None = None
    wait_seconds: int = 0
    checked: bool = True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_admin(db: Database, username: str, password: str) -> Admin:
    """Store a new administrator with an argon2id hash of the password."""
    username = username.strip()
    if not username:
        raise ValueError("用户名不能为空")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT 1 FROM admins WHERE username = ?", (username,))
        if await cursor.fetchone() is not None:
            raise AdminExists(f"管理员 {username!r} 已存在")
        cursor = await conn.execute(
            "INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)",
            (username, password_hash, now_ms()),
        )
        admin_id = cursor.lastrowid
    assert admin_id is not None
    return Admin(admin_id, username)


async def admin_count(db: Database) -> int:
    """How many administrators can sign in to the console (``mapay doctor`` wants at least one)."""
    return int(await db.fetchval("SELECT count(*) FROM admins") or 0)


class AdminAuth:
    """Signs administrators in and out, and finds the session behind a cookie."""

    def __init__(
        self, db: Database, *, session_ms: int, max_failures: int, max_wait_ms: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._session_ms = session_ms
        self._max_failures = max_failures
        self._max_wait_ms = max_wait_ms
        self._clock = clock

    def wait_ms(self, failures: int) -> int:
        """How long after its latest failure a (username, client) pair with this many failures must wait."""
        if failures < self._max_failures:
            return 0
        return min(2 ** min(failures - self._max_failures + 1, 40) * 1000, self._max_wait_ms)

    async def sign_in(self, username: str, password: str, client: str) -> SignIn:
        """Check the password unless this client must wait for this username; a success forgets its failures."""
        username = username.strip()
        early_ms = await self._record_attempt(username, client)
        if early_ms > 0:
            return SignIn(wait_seconds=math.ceil(early_ms / 1000), checked=False)
        row = await self._db.fetchone("SELECT id, password_hash FROM admins WHERE username = ?", (username,))
        # argon2 is deliberately slow: keep it off the event loop so payers' requests are not held up.
        matches = await asyncio.to_thread(
            _password_matches, _DUMMY_HASH if row is None else row["password_hash"], password
        )
        if row is None or not matches:
            return SignIn(wait_seconds=math.ceil(await self._failed(username, client) / 1000))
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM admin_login_failures WHERE username = ? AND ip = ?", (username, client))
        return SignIn(token=await self.open_session(row["id"]))

    async def _record_attempt(self, username: str, client: str) -> int:
        """Write the attempt down as a failure (undone on success); or, when it comes too early, how early (ms)."""
        now = self._clock()
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM admin_login_failures WHERE at <= ?", (now - FAILURE_MEMORY_MS,))
            failures, latest = await _failures(conn, username, client)
            early = latest + self.wait_ms(failures) - now if failures else 0
            if early > 0:
                return early
            await conn.execute(
                "INSERT INTO admin_login_failures (username, ip, at) VALUES (?, ?, ?)", (username, client, now)
            )
        return 0

    async def _failed(self, username: str, client: str) -> int:
        """The wait (ms) this failure imposes on the pair; a wait is a lock-out, and audited."""
        async with self._db.transaction() as conn:
            failures, _ = await _failures(conn, username, client)
            wait = self.wait_ms(failures)
            if wait:
                detail = {"client": client, "failures": failures, "wait_seconds": math.ceil(wait / 1000)}
                await write_audit(conn, "system", "admin.sign_in_locked", username, detail)
        return wait

    async def open_session(self, admin_id: int) -> str:
        """A new session for an administrator whose password was checked; returns the cookie token."""
        token = secrets.token_urlsafe(32)
        now = now_ms()
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM admin_sessions WHERE expires_at <= ?", (now,))
            await conn.execute(
                "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (_digest(token), admin_id, secrets.token_urlsafe(32), now, now + self._session_ms),
            )
        return token

    async def session(self, token: str) -> Session | None:
        row = await self._db.fetchone(
            "SELECT a.id, a.username, s.csrf_token, s.expires_at FROM admin_sessions s "
            "JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = ? AND s.expires_at > ?",
            (_digest(token), now_ms()),
        )
        if row is None:
            return None
        return Session(Admin(row["id"], row["username"]), row["csrf_token"], row["expires_at"])

    async def sign_out(self, token: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM admin_sessions WHERE token_hash = ?", (_digest(token),))


async def _failures(conn: aiosqlite.Connection, username: str, client: str) -> tuple[int, int]:
    """(failures remembered, time of the latest) of one (username, client) pair."""
    cursor = await conn.execute(
        "SELECT count(*), coalesce(max(at), 0) FROM admin_login_failures WHERE username = ? AND ip = ?",
        (username, client),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
