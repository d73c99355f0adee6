"""Administrators: argon2 password hashes, server-side sessions and the sign-in lock-out.

The session cookie carries a random token; only its SHA-256 is stored, so a copy of the database cannot be
replayed as a sign-in. Every session also holds the CSRF token its forms must echo.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.db import Database, now_ms

_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password
# (the hash of a random string nobody kept, made with the hasher's default parameters).
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$m3p7CfhJTDTUYOigIHcCKQ$rg26W1jwOnhbI2Ayrdq7BIKPMkmswubbLGAEUpVtwEg"

MIN_PASSWORD_LENGTH = 10


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
    """The outcome of a sign-in attempt: a new session token, or why there is none."""

    token: str | None = None
    locked: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_admin(db: Database, username: str, password: str) -> Admin:
    """Store a new administrator with an argon2id hash of the password."""
    username = username.strip()
    if not username:
        raise ValueError("empty username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT 1 FROM admins WHERE username = ?", (username,))
        if await cursor.fetchone() is not None:
            raise AdminExists(f"administrator {username!r} already exists")
        cursor = await conn.execute(
            "INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)",
            (username, password_hash, now_ms()),
        )
        admin_id = cursor.lastrowid
    assert admin_id is not None
    return Admin(admin_id, username)


class AdminAuth:
    """Signs administrators in and out, and finds the session behind a cookie."""

    def __init__(self, db: Database, *, session_ms: int, max_failures: int, lockout_ms: int) -> None:
        self._db = db
        self._session_ms = session_ms
        self._max_failures = max_failures
        self._lockout_ms = lockout_ms

    async def is_locked(self, username: str, ip: str) -> bool:
        since = now_ms() - self._lockout_ms
        by_user = await self._db.fetchval(
            "SELECT count(*) FROM admin_login_failures WHERE username = ? AND at > ?", (username, since)
        )
        by_ip = await self._db.fetchval(
            "SELECT count(*) FROM admin_login_failures WHERE ip = ? AND at > ?", (ip, since)
        )
        return max(by_user, by_ip) >= self._max_failures

    async def sign_in(self, username: str, password: str, ip: str) -> SignIn:
        """Check the password unless locked out; failures are recorded, success clears them for the user."""
        username = username.strip()
        if await self.is_locked(username, ip):
            return SignIn(locked=True)
        row = await self._db.fetchone("SELECT id, password_hash FROM admins WHERE username = ?", (username,))
        # argon2 is deliberately slow: keep it off the event loop so payers' requests are not held up.
        matches = await asyncio.to_thread(
            _password_matches, _DUMMY_HASH if row is None else row["password_hash"], password
        )
        if row is None or not matches:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO admin_login_failures (username, ip, at) VALUES (?, ?, ?)", (username, ip, now_ms())
                )
            return SignIn(locked=await self.is_locked(username, ip))
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM admin_login_failures WHERE username = ?", (username,))
        return SignIn(token=await self.open_session(row["id"]))

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


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
