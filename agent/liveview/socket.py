"""The WebSocket between a viewer's browser and a :class:`LiveView`, and the checks before it opens.

Whoever serves a live view (the admin console's 人工接管, ``mapay record`` without a display) first decides
who may watch (a session, a one-time ticket); :func:`same_origin` is the check every such socket adds, because
browsers send cookies with a cross-site WebSocket handshake and do not apply CORS to it.

Messages to the viewer are JSON: ``{"type": "frame", "data": <jpeg base64>, "w", "h"}`` and
``{"type": "status", "state", "text"}``. From the viewer: the input messages of :meth:`LiveView.handle`, or
``{"type": "command", "name": ...}`` for the commands its server offers (``finish`` for a recording).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import WSMsgType, web
from playwright.async_api import Error as PlaywrightError
from yarl import URL

from agent.liveview.stream import Frame, InputRefused, LiveView

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 4096  # one input event; a paste is capped at MAX_TEXT characters anyway
Command = Callable[[], Awaitable[None]]


def same_origin(request: web.Request) -> bool:
    """Whether the handshake comes from a page of this very server (scheme-less: a TLS proxy may sit in front)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    try:
        url = URL(origin)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and url.raw_authority == request.host


async def serve_view(request: web.Request, view: LiveView, commands: Mapping[str, Command] | None = None,
                     ) -> web.WebSocketResponse:
    """Stream ``view`` to this viewer and relay its input until either side goes away."""
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    sender = asyncio.create_task(_send(ws, view))
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            await _receive(ws, view, message.data, commands or {})
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await ws.close()
    return ws


async def _send(ws: web.WebSocketResponse, view: LiveView) -> None:
    async for update in view.updates():
        if isinstance(update, Frame):
            await ws.send_json({"type": "frame", "data": update.jpeg_base64, "w": update.width, "h": update.height})
        else:
            await ws.send_json({"type": "status", "state": update.state, "text": update.text})
    await ws.close()


async def _receive(ws: web.WebSocketResponse, view: LiveView, text: str, commands: Mapping[str, Command]) -> None:
    try:
        message = json.loads(text)
        if not isinstance(message, dict):
            raise InputRefused("a message is a JSON object")
        if message.get("type") == "command":
            command = commands.get(str(message.get("name")))
            if command is None:
                raise InputRefused("unknown command")
            await command()
        else:
            await view.handle(message)
    except (ValueError, InputRefused) as exc:  # json's errors are ValueErrors too
        await ws.send_json({"type": "refused", "detail": str(exc)[:200]})
    except PlaywrightError as exc:  # the page navigated or closed under the event: the next frame shows it
        log.info("liveview_input_lost", detail=str(exc).splitlines()[0])
