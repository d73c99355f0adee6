"""Orders for cashier tests, written straight into the schema (intake is tested on its own)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp import web

from agent.db import now_ms
from agent.keys import DB, POOL
from agent.merchants import Merchant
from agent.orders import Order, get_order


@dataclass(frozen=True)
class OrderSpec:
    money_fen: int = 1000
    pay_amount_fen: int | None = None
    type: str | None = "alipay"
    name: str = "高级会员 月卡"
    sitename: str = ""
    status: str = "pending"
    ttl_ms: int = 300_000
    return_url: str = ""
    param: str = ""
    payload: str | None = "https://qr.alipay.com/fkx19811qhvbq0c5aawwnd3"
    image: bytes | None = None
    image_type: str | None = None


async def create_order(app: web.Application, merchant: Merchant, spec: OrderSpec = OrderSpec()) -> Order:
    """A fresh account and code, and one order on it as intake would have stored it."""
    pool = app[POOL]
    suffix = secrets.token_hex(4)
    account = await pool.add_account("shouqianba", f"门店{suffix}", f"user{suffix}", "pw")
    code = await pool.add_code(
        account.id, payload=spec.payload, image=spec.image, image_type=spec.image_type, terminal_id="T1"
    )
    trade_no = f"2024{secrets.randbelow(10**16):016d}"
    created = now_ms()
    async with app[DB].transaction() as conn:
        await conn.execute(
            "INSERT INTO orders (trade_no, pid, out_trade_no, type, name, money_fen, pay_amount_fen, code_id, "
            "account_id, scope, status, created_at, expires_at, param, notify_url, return_url, sitename) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                trade_no, merchant.pid, f"OUT{suffix}", spec.type, spec.name, spec.money_fen,
                spec.pay_amount_fen or spec.money_fen, code.id, account.id, f"a{account.id}:tT1", spec.status,
                created, created + spec.ttl_ms, spec.param, "http://127.0.0.1:9/notify", spec.return_url,
                spec.sitename,
            ),
        )
    order = await get_order(app[DB], trade_no)
    assert order is not None
    return order


async def mark_paid(app: web.Application, trade_no: str) -> None:
    """What the matcher does to an order when a provider payment confirms it."""
    async with app[DB].transaction() as conn:
        await conn.execute(
            "UPDATE orders SET status = 'paid', paid_at = ?, provider_trade_no = ? WHERE trade_no = ?",
            (now_ms(), f"P{trade_no}", trade_no),
        )
