"""A merchant site for tests: receives notifies on 127.0.0.1 and checks them the way epay clients do.

Verification follows v2board's epay plugin: the signature is computed over EVERY received parameter
except sign/sign_type, empty ones included (``ksort``, ``urldecode(http_build_query(...))``,
``stripslashes``, MD5 of the string + key, compared exactly). Like dujiaoka it then refuses a notify whose
money differs from its own order ("金额不一致"), and like the independent clients it first refuses a notify
missing a callback field ("Missing callback fields: type"). The site can be scripted to misbehave before acknowledging.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.gateway import loopback_socket


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer: HTTP status, body, and how long to wait before answering."""

    status: int = 200
    body: str = "success"
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Received:
    params: dict[str, str]
    problem: str | None  # None when the notify passed every check
    answer: str  # the body the site answered with
    at: float  # loop time
    status: int = 200  # the HTTP status it answered with
    delay: float = 0.0  # how long it waited before answering (a sender with a shorter timeout saw none)


# What an independent epay client insists on before it even checks the signature.
CALLBACK_FIELDS = ("pid", "trade_no", "out_trade_no", "type", "name", "money", "trade_status", "sign")


def v2board_sign(params: dict[str, str], key: str) -> str:
    """v2board: md5(stripslashes(urldecode(http_build_query(ksort(params - sign - sign_type)))) . key)."""
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type"))
    canonical = "&".join(f"{k}={v}" for k, v in items).replace("\\", "")
    return hashlib.md5((canonical + key).encode()).hexdigest()


@dataclass
class MerchantSite:
    key: str
    url: str = ""
    orders: dict[str, str] = field(default_factory=dict)  # out_trade_no -> money as the merchant stored it
    received: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    # When no scripted reply is left: called with each notify's params and its problem (None when valid);
    # a Reply misbehaves, None answers as usual.
    policy: Callable[[dict[str, str], str | None], Reply | None] | None = None
    in_flight: int = 0
    most_in_flight: int = 0

    def expect(self, out_trade_no: str, money: str) -> None:
        self.orders[out_trade_no] = money

    def script(self, *replies: Reply) -> None:
        """Answer the next notifies with ``replies`` (then acknowledge valid notifies as usual)."""
        self.replies.extend(replies)

    @property
    def acknowledged(self) -> list[Received]:
        """Valid notifies the site answered "success" to."""
        return [r for r in self.received if r.problem is None and r.answer == "success"]

    def check(self, params: dict[str, str]) -> str | None:
        missing = [name for name in CALLBACK_FIELDS if not params.get(name)]
        if missing:
            return f"Missing callback fields: {', '.join(missing)}"
        if params.get("sign") != v2board_sign(params, self.key):
            return "签名错误"
        return self.check_order(params)

    def check_order(self, params: dict[str, str]) -> str | None:
        """The notify's order, once its signature holds: paid, known here, for the expected money."""
        if params.get("trade_status") != "TRADE_SUCCESS":
            return "交易状态错误"
        expected = self.orders.get(params.get("out_trade_no", ""))
        if expected is None:
            return "订单不存在"
        if params.get("money") != expected:
            return "金额不一致"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        problem = self.check(params)
        reply = self.replies.pop(0) if self.replies else self.policy(params, problem) if self.policy else None
        reply = reply or Reply(body="success" if problem is None else "fail")
        self.received.append(Received(params, problem, reply.body, asyncio.get_running_loop().time(),
                                      reply.status, reply.delay))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        return web.Response(status=reply.status, text=reply.body)


@asynccontextmanager
async def serve_merchant_site(key: str, site: MerchantSite | None = None) -> AsyncIterator[MerchantSite]:
    """A running merchant site whose notify endpoint is ``site.url`` (``site``: one configured beforehand)."""
    site = site or MerchantSite(key)
    app = web.Application()
    app.router.add_get("/notify", site.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    sock = loopback_socket()
    site.url = f"http://127.0.0.1:{sock.getsockname()[1]}/notify"
    await web.SockSite(runner, sock).start()
    try:
        yield site
    finally:
        await runner.cleanup()
