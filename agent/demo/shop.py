"""The demo merchant: a shop that orders through ``/mapi.php`` and checks what the gateway sends back.

It does what an epay merchant site does: signs its create request with its key, keeps its own record of
each order's money, verifies the signature (and the money) of every notify and return, and acknowledges a
valid notify with ``success``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from agent import epay
from agent.merchants import Merchant
from agent.money import MoneyError, format_yuan, parse_yuan
from agent.timefmt import SHANGHAI

SITE_NAME = "mapay 演示商城"
PAY_TYPES = {"alipay": "支付宝", "wxpay": "微信支付", "bank": "云闪付"}


def beijing_stamp() -> str:
    """Now as ``YmdHMS`` in Beijing time, like the gateway's trade numbers (whatever the machine's zone)."""
    return datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")


class OrderRefused(Exception):
    """mapi.php did not create the order; ``str(exc)`` is the gateway's message."""


@dataclass
class ShopOrder:
    out_trade_no: str
    name: str
    money: str  # yuan as the shop sent it: notifies must carry exactly this
    pay_type: str
    trade_no: str
    payurl: str
    created_at: float = field(default_factory=time.time)
    simulated_trade_no: str | None = None  # the back office's trade no once "模拟付款" was clicked


@dataclass(frozen=True, slots=True)
class ReceivedNotify:
    params: dict[str, str]
    problem: str | None  # None: signature and money check out, answered "success"
    at: float


@dataclass
class DemoShop:
    merchant: Merchant
    gateway_url: str
    site_url: str  # where the shop serves ``/return`` (and ``/notify``, unless ``notify_base`` says otherwise)
    notify_base: str = ""  # where mapay sends notifies: never the gateway's own port (agent/notify/egress.py)
    number_prefix: str = "DEMO"  # out_trade_no = prefix + Beijing time + a counter
    orders: dict[str, ShopOrder] = field(default_factory=dict)
    notifies: list[ReceivedNotify] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def order_fields(self, money: str, name: str, pay_type: str) -> dict[str, str]:
        """Signed mapi.php fields of a new order (a fresh out_trade_no each time)."""
        fields = {
            "pid": str(self.merchant.pid),
            "type": pay_type,
            "out_trade_no": f"{self.number_prefix}{beijing_stamp()}{next(self._numbers):04d}",
            "notify_url": f"{self.notify_base or self.site_url}/notify",
            "return_url": f"{self.site_url}/return",
            "name": name,
            "money": money,
            "clientip": "127.0.0.1",
            "sitename": SITE_NAME,
            "sign_type": "MD5",
        }
        fields["sign"] = epay.sign(fields, self.merchant.key)
        return fields

    async def place_order(self, http: aiohttp.ClientSession, money: str, name: str, pay_type: str) -> ShopOrder:
        """Create the order through the real mapi.php over HTTP; raises OrderRefused with its message."""
        with contextlib.suppress(MoneyError):  # a shop stores prices with two decimals; mapi.php judges the rest
            money = format_yuan(parse_yuan(money))
        fields = self.order_fields(money, name, pay_type)
        async with http.post(f"{self.gateway_url}/mapi.php", data=fields) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
        if answer.get("code") != 1:
            raise OrderRefused(str(answer.get("msg") or "下单失败"))
        order = ShopOrder(fields["out_trade_no"], name, money, pay_type, str(answer["trade_no"]),
                          str(answer["payurl"]))
        self.orders[order.out_trade_no] = order
        return order

    def check_result(self, params: Mapping[str, str]) -> str | None:
        """Why a notify or return must not be trusted, or None when it is genuine and matches our order."""
        if params.get("pid") != str(self.merchant.pid) or not epay.verify(params, self.merchant.key):
            return "签名错误"
        if params.get("trade_status") != "TRADE_SUCCESS":
            return "交易状态错误"
        order = self.orders.get(params.get("out_trade_no", ""))
        if order is None:
            return "订单不存在"
        if params.get("money") != order.money:
            return "金额不一致"
        return None

    def receive_notify(self, params: Mapping[str, str]) -> bool:
        """Record a notify; True when it is valid (the answer is then ``success``)."""
        problem = self.check_result(params)
        self.notifies.append(ReceivedNotify(dict(params), problem, time.time()))
        return problem is None

    def notified(self, out_trade_no: str) -> bool:
        return any(n.problem is None and n.params.get("out_trade_no") == out_trade_no for n in self.notifies)
