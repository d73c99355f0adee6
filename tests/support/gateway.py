"""Start the real gateway app on a loopback port for a test."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from agent.app import create_app
from agent.providers.base import ProviderFactory
from agent.settings import Settings
from agent.web.listening import remember


@dataclass
class RunningGateway:
    url: str
    app: web.Application
    settings: Settings


def loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def running_gateway(
    settings: Settings, provider_factory: ProviderFactory | None = None
) -> AsyncIterator[RunningGateway]:
    """The whole app behind a real TCP socket; ``settings.public_url`` is set to where it listens."""
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings.model_copy(update={"public_url": url})
    app = create_app(settings, provider_factory=provider_factory)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    remember(app, runner)
    try:
        yield RunningGateway(url=url, app=app, settings=settings)
    finally:
        await runner.cleanup()
