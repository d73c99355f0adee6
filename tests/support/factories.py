"""Rows for tests: accounts and codes through the real AccountBook and CodeBook, orders inserted with exact times and amounts."""

from __future__ import annotations

import itertools

from aiohttp import web

from agent.allocation.amounts import scope_key
from agent.appkeys import ACCOUNTS, CODES, DB
from agent.codes import Code
from agent.db import now_ms
from agent.merchants import Merchant
from agent.orders import Order, get_order

_serial = itertools.count(1)


async def add_code(
    app: web.Application, *, account_id: int | None = None, terminal_id: str | None = "T1",
    platform: str = "shouqianba", payload: str | None = None, image: bytes | None = None,
    image_type: str | None = None, daily_cap_fen: int | None = None, account_name: str = "测试门店",
) -> Code:
    """A QR code on ``account_id``, or on a fresh account of ``platform``; a unique payload unless given
    (or an image is). The one code factory of the test suite."""
    if account_id is None:
        account = await app[ACCOUNTS].add_account(platform, account_name, f"user{next(_serial)}", "pass-word")
        account_id = account.id
    if payload is None and image is None:
        payload = f"https://qr.example/{next(_serial)}"
    return await app[CODES].add_code(
        account_id, payload=payload, image=image, image_type=image_type, terminal_id=terminal_id,
        daily_cap_fen=daily_cap_fen,
    )


async def insert_order(
    app: web.Application,
    merchant: Merchant,
    code: Code,
    *,
    money_fen: int = 1000,
    pay_amount_fen: int | None = None,
    type: str | None = "alipay",
    created_at: int | None = None,
    ttl_ms: int = 300_000,
    status: str = "pending",
    notify_url: str = "http://127.0.0.1:9/notify",
    param: str = "",
    name: str = "测试商品",
) -> Order:
    """An order as allocation would have written it, with every time and amount chosen by the test."""
    db = app[DB]
    created_at = now_ms() if created_at is None else created_at
    has_terminal = await db.fetchval(
        "SELECT p.has_terminal FROM accounts a JOIN platforms p ON p.id = a.platform_id WHERE a.id = ?",
        (code.account_id,),
    )
    serial = next(_serial)
    trade_no = f"T{created_at}{serial:06d}"
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO orders (trade_no, pid, out_trade_no, type, name, money_fen, pay_amount_fen, code_id, "
            "account_id, scope, status, created_at, expires_at, param, notify_url) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (trade_no, merchant.pid, f"M{serial}", type, name, money_fen,
             money_fen if pay_amount_fen is None else pay_amount_fen, code.id, code.account_id,
             scope_key(code.account_id, code.terminal_id, bool(has_terminal)), status, created_at,
             created_at + ttl_ms, param, notify_url),
        )
    order = await get_order(db, trade_no)
    assert order is not None
    return order
