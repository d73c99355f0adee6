"""Provider accounts: their logins (encrypted), their switch, and their health.

:class:`AccountBook` is the only writer of the ``accounts`` table's own columns (the saved browser session
is written by :mod:`agent.accounts.sessions`, a typed one-time code by :mod:`agent.accounts.otp`). Every
health change goes through :meth:`AccountBook.record_ok` or :meth:`AccountBook.record_failure`, fed by
:func:`agent.accounts.failures.classify`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import Enum

from yarl import URL

from agent.accounts.failures import Failure, describe, takeover_offered
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.errors import AccountExists, InvalidChange, NotFound
from agent.providers.base import AccountCredentials, HealthState


class Unchanged(Enum):
    """Marks an update argument that keeps the stored value (for fields where None means "clear it")."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    platform: str
    name: str
    username: str
    base_url: str | None
    enabled: bool
    health: HealthState
    health_reason: str | None  # the technical detail of the latest failure (for maintainers)
    problem: str | None  # why it cannot be relied on now, in Chinese (for the merchant); None when fine
    failure_class: str | None
    failure_at: int | None  # latest failure
    failing_since: int | None  # first failure of the current spell

    @property
    def offers_takeover(self) -> bool:
        """人工接管 is what gets this account going again (see agent.accounts.failures.takeover_offered)."""
        return self.enabled and takeover_offered(self.health, self.failure_class, self.health_reason)


_ACCOUNT_SQL = (
    "SELECT a.id, p.slug AS platform, a.name, a.username, a.base_url, a.enabled, a.health, a.health_reason, "
    "a.failure_class, a.failure_at, a.failing_since FROM accounts a JOIN platforms p ON p.id = a.platform_id"
)


def checked_base_url(value: str) -> str:
    """A back office address must be absolute http(s); stored without a trailing slash."""
    try:
        url = URL(value)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidChange(f"后台地址 {value!r} 无效：应为完整的 http:// 或 https:// 地址")
    return value.rstrip("/")


def _account(r: sqlite3.Row) -> Account:
    health, enabled = HealthState(r["health"]), bool(r["enabled"])
    return Account(
        r["id"], r["platform"], r["name"], r["username"], r["base_url"], enabled, health, r["health_reason"],
        describe(health, r["failure_class"], enabled=enabled), r["failure_class"], r["failure_at"],
        r["failing_since"],
    )


_HEALTHY = {"health": HealthState.OK.value, "health_reason": None, "failure_class": None, "failing_since": None}


class AccountBook:
    """Create, list, change and switch provider accounts; record what their reads tell of their health."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def add_account(
        self, platform: str, name: str, username: str, password: str, base_url: str | None = None
    ) -> Account:
        base_url = None if base_url is None else checked_base_url(base_url)
        platform_id = await self._db.fetchval("SELECT id FROM platforms WHERE slug = ?", (platform,))
        if platform_id is None:
            raise NotFound(f"未知平台 {platform!r}")
        try:
            async with self._db.transaction() as conn:
                cursor = await conn.execute(
                    "INSERT INTO accounts (platform_id, name, username, secret_enc, base_url, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (platform_id, name, username, self._box.encrypt(password), base_url, now_ms()),
                )
                account_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            existing = await self._db.fetchval(
                "SELECT id FROM accounts WHERE platform_id = ? AND username = ?", (platform_id, username)
            )
            if existing is None:
                raise
            raise AccountExists(platform, username, existing) from None
        assert account_id is not None
        return await self.account(account_id)

    async def account(self, account_id: int) -> Account:
        row = await self._db.fetchone(f"{_ACCOUNT_SQL} WHERE a.id = ?", (account_id,))
        if row is None:
            raise NotFound(f"账号 {account_id} 不存在")
        return _account(row)

    async def accounts(self) -> list[Account]:
        return [_account(row) for row in await self._db.fetchall(f"{_ACCOUNT_SQL} ORDER BY a.id")]

    async def health_at(self, account_id: int) -> int | None:
        """When the account's health last changed (epoch ms)."""
        value = await self._db.fetchval("SELECT health_at FROM accounts WHERE id = ?", (account_id,))
        return None if value is None else int(value)

    async def count_by_health(self) -> list[tuple[str, int, int]]:
        """(health, enabled accounts, disabled accounts) for every health state present."""
        rows = await self._db.fetchall(
            "SELECT health, sum(enabled) AS on_, sum(1 - enabled) AS off FROM accounts GROUP BY health ORDER BY health"
        )
        return [(row["health"], row["on_"], row["off"]) for row in rows]

    async def waiting_for_code(self) -> list[int]:
        """Ids of the accounts whose login waits for a one-time code (``needs_human``)."""
        rows = await self._db.fetchall("SELECT id FROM accounts WHERE health = 'needs_human' ORDER BY id")
        return [row[0] for row in rows]

    async def credentials(self, account_id: int) -> AccountCredentials:
        row = await self._db.fetchone(
            "SELECT a.id, p.slug, a.username, a.secret_enc, a.base_url FROM accounts a "
            "JOIN platforms p ON p.id = a.platform_id WHERE a.id = ?",
            (account_id,),
        )
        if row is None:
            raise NotFound(f"账号 {account_id} 不存在")
        return AccountCredentials(
            account_id=row["id"], platform=row["slug"], username=row["username"],
            password=self._box.decrypt(row["secret_enc"]), base_url=row["base_url"],
        )

    async def update_account(
        self, account_id: int, *, name: str | None = None, base_url: str | Unchanged | None = UNCHANGED,
        password: str | None = None,
    ) -> Account:
        """Rename, re-point (``base_url=None`` goes back to the profile's URL) or re-key an account.

        A new password is stored encrypted. New credentials (password or base URL) bump the account's
        revision (a trigger), so a running scheduler rebuilds its provider before the next read, and end a
        login_failed health: the old ones were what failed, so the next poll tries again.
        """
        if name is not None and not name.strip():
            raise InvalidChange("账号名称不能为空")
        if password == "":
            raise InvalidChange("密码不能为空")
        if isinstance(base_url, str):
            base_url = checked_base_url(base_url)
        current = await self.account(account_id)
        values: dict[str, object] = {}
        if name is not None and name != current.name:
            values["name"] = name
        if base_url is not UNCHANGED and base_url != current.base_url:
            values["base_url"] = base_url
        if password is not None:
            values["secret_enc"] = self._box.encrypt(password)
        if values.keys() & {"base_url", "secret_enc"} and current.health is HealthState.LOGIN_FAILED:
            values.update(_HEALTHY, health_at=now_ms())
        if values:
            await self._update(account_id, **values)
        return await self.account(account_id)

    async def set_account_enabled(self, account_id: int, enabled: bool) -> None:
        """Switch an account; enabling also clears a failed health, since a person says "try again"."""
        if enabled:
            await self._update(account_id, enabled=1, **_HEALTHY, health_at=now_ms())
        else:
            await self._update(account_id, enabled=0)

    async def record_ok(self, account_id: int) -> None:
        """A read succeeded: the failure spell (if any) is over."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE accounts SET health = 'ok', health_reason = NULL, failure_class = NULL, "
                "failing_since = NULL, health_at = ? WHERE id = ? AND health != 'ok'",
                (now_ms(), account_id),
            )

    async def record_failure(self, account_id: int, failure: Failure) -> None:
        """A job failed: note the latest failure, start the spell at its first one, and move the health.

        The health column is written only when it changes: its trigger moves the allocation epoch.
        """
        now = now_ms()
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE accounts SET health_reason = ?, failure_class = ?, failure_at = ?, "
                "failing_since = coalesce(failing_since, ?) WHERE id = ?",
                (failure.detail, failure.kind.value, now, now, account_id),
            )
            await conn.execute(
                "UPDATE accounts SET health = ?, health_at = ? WHERE id = ? AND health != ?",
                (failure.health.value, now, account_id, failure.health.value),
            )

    async def request_probe(self, account_id: int) -> None:
        """立即重试: a person asks for a read now, whatever the health (the running scheduler picks it up,
        from this process or another)."""
        await self._update(account_id, probe_requested_at=now_ms())

    async def take_probe_request(self, account_id: int, requested_at: int) -> None:
        """The scheduler started the asked-for read: forget the request (unless a newer one came)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE accounts SET probe_requested_at = NULL WHERE id = ? AND probe_requested_at = ?",
                (account_id, requested_at),
            )

    async def _update(self, account_id: int, **values: object) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"UPDATE accounts SET {assignments} WHERE id = ?", (*values.values(), account_id)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"账号 {account_id} 不存在")
