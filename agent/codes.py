"""The ``codes`` table's owner: the QR codes that pay into provider accounts (the accounts: ``agent.accounts``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from agent.accounts.book import UNCHANGED, Unchanged
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.db.rows import record
from agent.errors import CodeBusy, InvalidChange, NotFound
from agent.orders import live


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


_CODE_SQL = (
    "SELECT id, account_id, label, payload, image IS NOT NULL AS has_image, terminal_id, enabled, "
    "daily_cap_fen, last_used_at FROM codes"
)
_ROW_NAMES = {"codes": "收款码", "accounts": "账号"}  # what a missing row is called in the refusal


@dataclass(frozen=True, slots=True)
class CodeCounts:
    """An account's codes: how many, and how many of them enabled."""

    codes: int
    enabled_codes: int


@dataclass(frozen=True, slots=True)
class CodePlace:
    """A code with the account it pays into, as an order's timeline names it."""

    id: int
    label: str
    terminal_id: str | None
    account_id: int
    account: str  # the account's name


@dataclass(frozen=True, slots=True)
class CodeArtwork:
    """What a code's picture is made from: its payload, else the uploaded image."""

    payload: str | None
    image: bytes | None
    image_type: str | None


def touch_codes(conn: sqlite3.Connection, touched: Iterable[tuple[int, int]]) -> None:
    """Stamp (last_used_at, code_id) pairs, inside the allocator's transaction (plain sqlite3, writer thread)."""
    conn.executemany("UPDATE codes SET last_used_at = ? WHERE id = ?", touched)


async def make_least_recently_used(db: Database, code_id: int) -> None:
    """Put ``code_id`` first in the rotation (the demo's way of choosing a platform)."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE codes SET last_used_at = (SELECT min(last_used_at) FROM codes) - 1 WHERE id = ?", (code_id,)
        )


async def code_artwork(db: Database, code_id: int) -> CodeArtwork | None:
    row = await db.fetchone("SELECT payload, image, image_type FROM codes WHERE id = ?", (code_id,))
    if row is None:
        return None
    return CodeArtwork(row["payload"], None if row["image"] is None else bytes(row["image"]), row["image_type"])


async def code_counts_by_account(db: Database) -> dict[int, CodeCounts]:
    rows = await db.fetchall(
        "SELECT account_id, count(*) AS codes, sum(enabled) AS enabled_codes FROM codes GROUP BY account_id"
    )
    return {row["account_id"]: CodeCounts(row["codes"], row["enabled_codes"]) for row in rows}


async def code_place(db: Database, code_id: int) -> CodePlace | None:
    row = await db.fetchone(
        "SELECT c.id, c.label, c.terminal_id, a.id AS account_id, a.name AS account FROM codes c "
        "JOIN accounts a ON a.id = c.account_id WHERE c.id = ?", (code_id,),
    )
    return None if row is None else record(CodePlace, row)


def _changes(current: Code, **wanted: object) -> dict[str, object]:
    """The wanted column values that differ from the stored ones; UNCHANGED ones are left out."""
    return {name: value for name, value in wanted.items() if value is not UNCHANGED and value != getattr(current, name)}


def _code(r: sqlite3.Row) -> Code:
    return Code(
        r["id"], r["account_id"], r["label"], r["payload"], bool(r["has_image"]),
        r["terminal_id"], bool(r["enabled"]), r["daily_cap_fen"], r["last_used_at"],
    )


class CodeBook:
    """Create, list, change and switch codes; with ``touch_codes`` (the allocator's stamp) the only writer of ``codes``."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

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
            raise InvalidChange("收款码需要二维码内容或二维码图片")
        if await self._db.fetchval("SELECT 1 FROM accounts WHERE id = ?", (account_id,)) is None:
            raise NotFound(f"账号 {account_id} 不存在")
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
            raise NotFound(f"收款码 {code_id} 不存在")
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
            raise InvalidChange("每日限额必须大于零")
        current = await self.code(code_id)
        values = _changes(
            current, label=UNCHANGED if label is None else label, terminal_id=terminal_id, daily_cap_fen=daily_cap_fen
        )
        if not values:
            return current
        async with self._db.transaction() as conn:
            if "terminal_id" in values and await live.has_pending_order(conn, code_id):
                raise CodeBusy(f"收款码 {code_id} 还有待支付的订单，请在订单结束后再修改终端号")
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
                raise NotFound(f"{_ROW_NAMES.get(table, table)} {row_id} 不存在")
