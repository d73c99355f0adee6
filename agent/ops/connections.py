"""Slow clients cannot hold the server: header and body deadlines, and a cap on connections per address.

aiohttp waits for a request's headers and body as long as the client keeps the connection open, so 500
connections dribbling a byte every few seconds (slowloris) would be held for as long as they like. Here:

- a connection must deliver a request's headers within ``header_timeout_seconds`` of opening, or of its
  first byte after the previous answer; otherwise it gets ``408`` and is closed. An idle keep-alive
  connection (nothing sent since the last answer) is left to aiohttp's keep-alive timeout;
- a request's body must have arrived within ``body_timeout_seconds`` of its headers (``408``, closed);
- one client address holds at most ``max_connections_per_client`` connections at once; more are closed at
  once. Reverse proxies in ``MAPAY_TRUSTED_PROXIES`` are exempt (agent/web/client.py): they carry many
  clients and buffer slow ones themselves.

:class:`GuardedSite` is the listening site (instead of ``web.TCPSite``); :func:`deadlines` is the
outermost middleware, which tells the connection when a request's headers are in and when it is answered.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Handler

from agent.appkeys import SETTINGS
from agent.settings import Settings
from agent.web.client import is_trusted_proxy

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class _Connection(asyncio.Protocol):
    """aiohttp's protocol for one connection, wrapped: the header deadline and the per-address count."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._deadline: asyncio.TimerHandle | None = None
        self._busy = False  # a request's headers are in and it is not answered yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._guard.admit(self._peer):
            transport.abort()  # connection_lost follows; the inner protocol never saw this connection
            return
        self._transport = transport
        self._guard.opened(transport, self._peer, self)
        self._inner.connection_made(transport)
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return
        self._cancel_deadline()
        self._guard.closed(self._transport, self._peer)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._busy and self._deadline is None:
            self._wait_for_headers()  # the first byte of the next request on a kept-alive connection
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def request_started(self) -> None:
        self._busy = True
        self._cancel_deadline()

    def request_finished(self) -> None:
        self._busy = False

    def _wait_for_headers(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.header_timeout, self._headers_too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        transport = self._transport
        if transport is not None and not self._busy and not transport.is_closing():
            transport.write(_TIMEOUT_ANSWER)
            transport.close()


class ConnectionGuard:
    """The open connections of one server, by client address."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.header_timeout = settings.header_timeout_seconds
        self._per_peer: Counter[str] = Counter()
        self._by_transport: dict[asyncio.BaseTransport, _Connection] = {}

    def protocol_factory(self, make_inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Connection(self, make_inner())

    def admit(self, peer: str) -> bool:
        cap = self._settings.max_connections_per_client
        if cap == 0 or not peer or is_trusted_proxy(peer, self._settings.trusted_proxies):
            return True
        return self._per_peer[peer] < cap

    def opened(self, transport: asyncio.BaseTransport, peer: str, connection: _Connection) -> None:
        self._per_peer[peer] += 1
        self._by_transport[transport] = connection

    def closed(self, transport: asyncio.BaseTransport, peer: str) -> None:
        self._by_transport.pop(transport, None)
        self._per_peer[peer] -= 1
        if self._per_peer[peer] <= 0:
            del self._per_peer[peer]

    def connection(self, transport: asyncio.BaseTransport | None) -> _Connection | None:
        return None if transport is None else self._by_transport.get(transport)


CONNECTIONS = web.AppKey("connections", ConnectionGuard)


class GuardedSite(web.BaseSite):
    """``web.TCPSite`` whose connections are watched by the app's :class:`ConnectionGuard`.

    The accept backlog is larger than aiohttp's 128: a burst of slow clients must not fill the kernel's
    queue, or honest clients' SYNs are dropped and wait for the one-second retransmit.
    """

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, backlog: int = 1024) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = runner.app[CONNECTIONS]

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.protocol_factory(server), self._host, self._port, backlog=self._backlog,
            reuse_address=True,
        )


@web.middleware
async def deadlines(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: the headers are in (stop their clock); the body must follow in time."""
    connection = request.app[CONNECTIONS].connection(request.transport)
    if connection is not None:
        connection.request_started()
    try:
        if request.content.is_eof():
            return await handler(request)
        try:
            async with asyncio.timeout(request.app[SETTINGS].body_timeout_seconds) as body_clock:
                request.content.on_eof(lambda: body_clock.reschedule(None))
                return await handler(request)
        except TimeoutError:
            if not body_clock.expired() or request.content.is_eof():
                raise
            response = web.Response(status=408, text="请求体发送超时")
            response.force_close()
            return response
    finally:
        if connection is not None:
            connection.request_finished()


def setup(app: web.Application) -> None:
    app[CONNECTIONS] = ConnectionGuard(app[SETTINGS])
    app.middlewares.insert(0, deadlines)
