"""An account's provider session: one small object with an explicit state, encrypted at rest.

A :class:`ProviderSession` is what a browser login leaves behind and what reads use afterwards: the
cookies (Playwright's ``storage_state`` shape, so a browser context can be restored from them too), the
localStorage read on the login page, the values the profile captured (tokens), the browser's User-Agent
(plain HTTP reads present the same one), and when it was made, when it runs out and when it was renewed.

States::

    fresh ──login──> logged_in ──provider says "log in again"──> expired ──login──> logged_in
      └──credentials refused──> refused   (no login until the credentials change)

Only a logged-in session is worth keeping: :class:`SessionStore` writes it to ``accounts.session_enc``
(encrypted) after a login, a token refresh or a change of cookies, and forgets it when it expires or is
refused. A restart loads it and reads on without logging in while the provider honours it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.crypto import SecretBox
from agent.db import Database, now_ms


class SessionState(StrEnum):
    FRESH = "fresh"  # nothing to read with: a login comes first
    LOGGED_IN = "logged_in"
    EXPIRED = "expired"  # the provider said so: the next login is a browser login
    REFUSED = "refused"  # the credentials were refused: no login until they change


@dataclass(slots=True)
class ProviderSession:
    state: SessionState = SessionState.FRESH
    cookies: list[dict[str, Any]] = field(default_factory=list)
    origins: list[dict[str, Any]] = field(default_factory=list)  # localStorage per origin (storage_state shape)
    values: dict[str, str] = field(default_factory=dict)  # the profile's captures, usable as placeholders
    user_agent: str | None = None
    logged_in_at: int | None = None  # epoch ms
    expires_at: int | None = None  # epoch ms, when the profile names an expiry capture
    refreshed_at: int | None = None
    reason: str | None = None  # why it expired or was refused

    @property
    def usable(self) -> bool:
        return self.state is SessionState.LOGGED_IN

    @property
    def storage_state(self) -> dict[str, Any]:
        """What a browser context is restored from."""
        return {"cookies": self.cookies, "origins": self.origins}

    def logged_in(self, cookies: list[dict[str, Any]], origins: list[dict[str, Any]], values: dict[str, str],
                  user_agent: str | None, expires_at: int | None) -> None:
        self.state, self.reason = SessionState.LOGGED_IN, None
        self.cookies, self.origins, self.values = cookies, origins, values
        self.user_agent = user_agent or self.user_agent
        self.logged_in_at, self.expires_at, self.refreshed_at = now_ms(), expires_at, None

    def refreshed(self, values: dict[str, str], expires_at: int | None) -> None:
        self.values = {**self.values, **values}
        self.expires_at, self.refreshed_at = expires_at, now_ms()

    def refresh_due(self, before_expiry_seconds: float) -> bool:
        return self.expires_at is not None and now_ms() >= self.expires_at - before_expiry_seconds * 1000

    def expire(self, reason: str) -> None:
        self._drop(SessionState.EXPIRED, reason)

    def refuse(self, reason: str) -> None:
        self._drop(SessionState.REFUSED, reason)

    def reset(self) -> None:
        """A person starts over (人工接管): whatever happened before, the next login is tried."""
        self._drop(SessionState.FRESH, None)

    def _drop(self, state: SessionState, reason: str | None) -> None:
        self.state, self.reason = state, reason
        self.cookies, self.origins, self.values = [], [], {}
        self.expires_at = self.refreshed_at = None

    def to_json(self) -> str:
        return json.dumps({
            "state": self.state.value, "cookies": self.cookies, "origins": self.origins, "values": self.values,
            "user_agent": self.user_agent, "logged_in_at": self.logged_in_at, "expires_at": self.expires_at,
            "refreshed_at": self.refreshed_at, "saved_at": now_ms(),
        })

    @classmethod
    def from_json(cls, text: str) -> ProviderSession:
        data = json.loads(text)
        if "storage_state" in data:  # saved before the session object: a logged-in browser state
            state = data["storage_state"]
            return cls(SessionState.LOGGED_IN, list(state.get("cookies", [])), list(state.get("origins", [])),
                       dict(data["values"]), logged_in_at=data.get("saved_at"))
        return cls(SessionState(data["state"]), data["cookies"], data["origins"], data["values"],
                   data.get("user_agent"), data.get("logged_in_at"), data.get("expires_at"), data.get("refreshed_at"))


class SessionStore:
    """Reads and writes the accounts' logged-in sessions, encrypted, in ``accounts.session_enc``."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def load(self, account_id: int) -> ProviderSession | None:
        sealed = await self._db.fetchval("SELECT session_enc FROM accounts WHERE id = ?", (account_id,))
        if not sealed:
            return None
        try:
            session = ProviderSession.from_json(self._box.decrypt(sealed))
        except (ValueError, KeyError, TypeError):
            return None  # written with another key or unreadable: treat as no session, a login replaces it
        return session if session.usable else None

    async def save(self, account_id: int, session: ProviderSession) -> None:
        """Keep a logged-in session; any other state forgets the saved one."""
        if not session.usable:
            await self.clear(account_id)
            return
        sealed = self._box.encrypt(session.to_json())
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET session_enc = ? WHERE id = ?", (sealed, account_id))

    async def clear(self, account_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET session_enc = NULL WHERE id = ?", (account_id,))
