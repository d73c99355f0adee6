"""The QR pool: provider accounts (encrypted logins) and the codes that pay into them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import Enum

from yarl import URL

from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.providers.base import AccountCredentials, HealthState


class Unchanged(Enum):
    """Marks an update argument that keeps the stored value (for fields where None means "clear it")."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class CodeBusy(ValueError):
    """The change would move a code's pending orders out of the matching scope their amounts were unique in."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    platform: str
    name: str
    username: str
    base_url: str | None
    enabled: bool
    health: HealthState
    health_reason: str | None


@dataclass(frozen=True, slots=True)
class Code:
    id: int
    account_id: int
    label: str
    payload: str | None
    has_image: bool
    terminal_id: str | None
    enabled: bool
    daily_cap_fen: int | None
    last_used_at: int


_ACCOUNT_SQL = (
    "SELECT a.id, p.slug AS platform, a.name, a.username, a.base_url, a.enabled, a.health, a.health_reason "
    "FROM accounts a JOIN platforms p ON p.id = a.platform_id"
)
_CODE_SQL = (
    "SELECT id, account_id, label, payload, image IS NOT NULL AS has_image, terminal_id, enabled, "
    "daily_cap_fen, last_used_at FROM codes"
)


def checked_base_url(value: str) -> str:
    """A back office address must be absolute http(s); stored without a trailing slash."""
    try:
        url = URL(value)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base URL {value!r} is not a full http:// or https:// address")
    return value.rstrip("/")


def _changes(current: Account | Code, **wanted: object) -> dict[str, object]:
    """The wanted column values that differ from the stored ones; UNCHANGED ones are left out."""
    return {name: value for name, value in wanted.items() if value is not UNCHANGED and value != getattr(current, name)}


def _account(r: sqlite3.Row) -> Account:
    return Account(
        r["id"], r["platform"], r["name"], r["username"], r["base_url"],
        bool(r["enabled"]), HealthState(r["health"]), r["health_reason"],
    )


def _code(r: sqlite3.Row) -> Code:
    return Code(
        r["id"], r["account_id"], r["label"], r["payload"], bool(r["has_image"]),
        r["terminal_id"], bool(r["enabled"]), r["daily_cap_fen"], r["last_used_at"],
    )


class Pool:
    """Create, list and switch accounts and codes; the single writer of these tables outside allocation."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def add_account(
        self, platform: str, name: str, username: str, password: str, base_url: str | None = None
    ) -> Account:
        base_url = None if base_url is None else checked_base_url(base_url)
        platform_id = await self._db.fetchval("SELECT id FROM platforms WHERE slug = ?", (platform,))
        if platform_id is None:
            raise LookupError(f"unknown platform {platform!r}")
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO accounts (platform_id, name, username, secret_enc, base_url, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (platform_id, name, username, self._box.encrypt(password), base_url, now_ms()),
            )
            account_id = cursor.lastrowid
        assert account_id is not None
        return await self.account(account_id)

    async def account(self, account_id: int) -> Account:
        row = await self._db.fetchone(f"{_ACCOUNT_SQL} WHERE a.id = ?", (account_id,))
        if row is None:
            raise LookupError(f"account {account_id} not found")
        return _account(row)

    async def accounts(self) -> list[Account]:
        return [_account(row) for row in await self._db.fetchall(f"{_ACCOUNT_SQL} ORDER BY a.id")]

    async def credentials(self, account_id: int) -> AccountCredentials:
        row = await self._db.fetchone(
            "SELECT a.id, p.slug, a.username, a.secret_enc, a.base_url FROM accounts a "
            "JOIN platforms p ON p.id = a.platform_id WHERE a.id = ?",
            (account_id,),
        )
        if row is None:
            raise LookupError(f"account {account_id} not found")
        return AccountCredentials(
            account_id=row["id"], platform=row["slug"], username=row["username"],
            password=self._box.decrypt(row["secret_enc"]), base_url=row["base_url"],
        )

    async def update_account(
        self, account_id: int, *, name: str | None = None, base_url: str | Unchanged | None = UNCHANGED,
        password: str | None = None,
    ) -> Account:
        """Rename, re-point (``base_url=None`` goes back to the profile's URL) or re-key an account.

        A new password is stored encrypted. New credentials (password or base URL) end a login_failed
        health: the old ones were what failed, so the next poll tries again.
        """
        if name is not None and not name.strip():
            raise ValueError("an account name cannot be empty")
        if password == "":
            raise ValueError("a password cannot be empty")
        if isinstance(base_url, str):
            base_url = checked_base_url(base_url)
        current = await self.account(account_id)
        values = _changes(current, name=UNCHANGED if name is None else name, base_url=base_url)
        if password is not None:
            values["secret_enc"] = self._box.encrypt(password)
        if values.keys() & {"base_url", "secret_enc"} and current.health is HealthState.LOGIN_FAILED:
            values.update(health=HealthState.OK.value, health_reason=None, health_at=now_ms())
        if values:
            await self._update("accounts", account_id, **values)
        return await self.account(account_id)

    async def set_account_enabled(self, account_id: int, enabled: bool) -> None:
        """Switch an account; enabling also clears a failed health, since a person says "try again"."""
        if enabled:
            await self._update(
                "accounts", account_id, enabled=1, health=HealthState.OK.value, health_reason=None,
                health_at=now_ms(),
            )
        else:
            await self._update("accounts", account_id, enabled=0)

    async def set_health(self, account_id: int, state: HealthState, reason: str | None = None) -> None:
        await self._update("accounts", account_id, health=state.value, health_reason=reason, health_at=now_ms())

    async def add_code(
        self,
        account_id: int,
        *,
        payload: str | None = None,
        image: bytes | None = None,
        image_type: str | None = None,
        terminal_id: str | None = None,
        label: str = "",
        daily_cap_fen: int | None = None,
    ) -> Code:
        if payload is None and image is None:
            raise ValueError("a code needs a QR payload or an image")
        await self.account(account_id)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO codes (account_id, label, payload, image, image_type, terminal_id, daily_cap_fen, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (account_id, label, payload, image, image_type, terminal_id, daily_cap_fen, now_ms()),
            )
            code_id = cursor.lastrowid
        assert code_id is not None
        return await self.code(code_id)

    async def code(self, code_id: int) -> Code:
        row = await self._db.fetchone(f"{_CODE_SQL} WHERE id = ?", (code_id,))
        if row is None:
            raise LookupError(f"code {code_id} not found")
        return _code(row)

    async def codes(self, account_id: int | None = None) -> list[Code]:
        if account_id is None:
            rows = await self._db.fetchall(f"{_CODE_SQL} ORDER BY id")
        else:
            rows = await self._db.fetchall(f"{_CODE_SQL} WHERE account_id = ? ORDER BY id", (account_id,))
        return [_code(row) for row in rows]

    async def update_code(
        self, code_id: int, *, label: str | None = None, terminal_id: str | Unchanged | None = UNCHANGED,
        daily_cap_fen: int | Unchanged | None = UNCHANGED,
    ) -> Code:
        """Change a code's label, terminal id or daily cap (None: no terminal id / no cap).

        Raises CodeBusy for a new terminal id while the code has pending orders: their amounts were made
        unique in the old terminal's scope, and matching by the new one could make two of them look alike.
        """
        if daily_cap_fen is not UNCHANGED and daily_cap_fen is not None and daily_cap_fen <= 0:
            raise ValueError("a daily cap must be more than zero")
        current = await self.code(code_id)
        values = _changes(
            current, label=UNCHANGED if label is None else label, terminal_id=terminal_id, daily_cap_fen=daily_cap_fen
        )
        if not values:
            return current
        async with self._db.transaction() as conn:
            if "terminal_id" in values:
                async with conn.execute(
                    "SELECT 1 FROM orders WHERE code_id = ? AND status = 'pending' LIMIT 1", (code_id,)
                ) as cursor:
                    if await cursor.fetchone() is not None:
                        raise CodeBusy(f"code {code_id} has pending orders; change its terminal id after they end")
            assignments = ", ".join(f"{column} = ?" for column in values)
            await conn.execute(f"UPDATE codes SET {assignments} WHERE id = ?", (*values.values(), code_id))
        return await self.code(code_id)

    async def set_code_enabled(self, code_id: int, enabled: bool) -> None:
        await self._update("codes", code_id, enabled=int(enabled))

    async def _update(self, table: str, row_id: int, **values: object) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE {table} SET {assignments} WHERE id = ?", (*values.values(), row_id)
            )
            if cursor.rowcount == 0:
                raise LookupError(f"{table[:-1]} {row_id} not found")
