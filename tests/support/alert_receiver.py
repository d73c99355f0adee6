"""A loopback endpoint for Apprise's ``json://`` channel: records what the owner would have read.

Apprise's JSON plugin POSTs ``{"version", "title", "message", "attachments", "type"}``. The receiver can
be told to never answer (a hanging channel); it lets those requests go when the test is done.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.gateway import loopback_socket


@dataclass
class AlertReceiver:
    url: str = ""  # the Apprise URL: json://127.0.0.1:<port>/alerts
    received: list[dict[str, Any]] = field(default_factory=list)
    hang: bool = False
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def texts(self) -> list[str]:
        """Each alert as the owner reads it: title, a blank line, the message."""
        return [f"{alert['title']}\n\n{alert['message']}" for alert in self.received]

    def titled(self, fragment: str) -> list[dict[str, Any]]:
        return [alert for alert in self.received if fragment in alert["title"]]

    async def _handle(self, request: web.Request) -> web.Response:
        if self.hang:
            await self._release.wait()
            return web.Response(status=503)
        self.received.append(await request.json())
        return web.Response(text="ok")


@asynccontextmanager
async def serve_alert_receiver(*, hang: bool = False, path: str = "/alerts") -> AsyncIterator[AlertReceiver]:
    receiver = AlertReceiver(hang=hang)
    app = web.Application()
    app.router.add_post(path, receiver._handle)
    sock = loopback_socket()
    receiver.url = f"json://127.0.0.1:{sock.getsockname()[1]}{path}"
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield receiver
    finally:
        receiver._release.set()
        await runner.cleanup()


def closed_port_url() -> str:
    """A ``json://`` URL to a loopback port nobody listens on: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"json://127.0.0.1:{port}/secret-hook-path"
