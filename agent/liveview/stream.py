"""One headless page, shown to a person and driven by them: CDP screencast out, CDP input in.

The page's frames come from ``Page.startScreencast`` on a CDP session of the page's own context
(``context.new_cdp_session(page)``), which Chromium offers for a local launch, a ``ws://`` run-server and an
``http://`` CDP endpoint alike. Each frame is acknowledged at once (Chromium sends the next only then) and kept
as the latest; every viewer gets the latest frame when it is ready for one, so a slow phone skips frames
instead of queueing them.

The person's input arrives as small dicts (see :meth:`LiveView.handle`) whose coordinates are fractions of the
frame they were given (0..1 across, 0..1 down), so the viewer can show the frame at any size (a 390 px phone
or a 1280 px desktop): they are scaled here to the page's CSS pixels from the frame's own metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

log = structlog.get_logger(__name__)

JPEG_QUALITY = 70
MAX_TEXT = 512  # characters typed at once (a paste); longer input is a mistake or an attack, not a person
_BUTTONS = {"left": 1, "right": 2, "middle": 4, "none": 0}
_MOUSE_TYPES = {"down": "mousePressed", "up": "mouseReleased", "move": "mouseMoved"}
# Keys that are not text: name -> (code, Windows virtual key code, text the key types)
SPECIAL_KEYS: dict[str, tuple[str, int, str]] = {
    "Backspace": ("Backspace", 8, ""), "Tab": ("Tab", 9, ""), "Enter": ("Enter", 13, "\r"),
    "Escape": ("Escape", 27, ""), "Delete": ("Delete", 46, ""), "Home": ("Home", 36, ""), "End": ("End", 35, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""), "ArrowUp": ("ArrowUp", 38, ""), "ArrowRight": ("ArrowRight", 39, ""),
    "ArrowDown": ("ArrowDown", 40, ""), "PageUp": ("PageUp", 33, ""), "PageDown": ("PageDown", 34, ""),
}
_MODIFIERS = {"alt": 1, "ctrl": 2, "meta": 4, "shift": 8}


class InputRefused(ValueError):
    """A viewer's message that is not one of the input kinds, or carries values out of range."""


@dataclass(frozen=True, slots=True)
class Status:
    """What the page is for right now, told to every viewer: ``state`` for code, ``text`` for the person."""

    seq: int
    state: str
    text: str


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    jpeg_base64: str
    width: float  # the page's viewport in CSS pixels, as the frame shows it
    height: float
    offset_top: float


def _fraction(message: Mapping[str, Any], name: str) -> float:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputRefused(f"{name} must be a number from 0 to 1")
    return float(value)


def _number(message: Mapping[str, Any], name: str, limit: float) -> float:
    value = message.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > limit:
        raise InputRefused(f"{name} must be a number within ±{limit:g}")
    return float(value)


def _modifiers(message: Mapping[str, Any]) -> int:
    return sum(bit for name, bit in _MODIFIERS.items() if message.get(name) is True)


class LiveView:
    """The screencast of one page and the input relayed to it; ``async with`` starts and stops it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self._cdp: CDPSession | None = None
        self._latest: Frame | None = None
        self._seq = 0
        self._viewers: set[asyncio.Event] = set()
        self._status = Status(0, "live", "")
        self.closed = asyncio.Event()

    async def __aenter__(self) -> LiveView:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        viewport = self.page.viewport_size or {"width": 1280, "height": 800}
        self._cdp = await self.page.context.new_cdp_session(self.page)
        self._cdp.on("Page.screencastFrame", self._on_frame)
        await self._cdp.send("Page.enable")
        await self._cdp.send("Page.startScreencast", {
            "format": "jpeg", "quality": JPEG_QUALITY,
            "maxWidth": viewport["width"], "maxHeight": viewport["height"], "everyNthFrame": 1,
        })
        log.info("liveview_started", url=self.page.url)

    async def stop(self) -> None:
        cdp, self._cdp = self._cdp, None
        if cdp is not None:
            with contextlib.suppress(PlaywrightError):
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
        self._end()

    def _end(self) -> None:
        self.closed.set()
        for viewer in self._viewers:
            viewer.set()

    # -- frames out ------------------------------------------------------------------------------------
    def _on_frame(self, event: dict[str, Any]) -> None:
        metadata = event.get("metadata", {})
        self._seq += 1
        self._latest = Frame(self._seq, event["data"], float(metadata.get("deviceWidth") or 1280),
                             float(metadata.get("deviceHeight") or 800), float(metadata.get("offsetTop") or 0))
        for viewer in self._viewers:
            viewer.set()
        if self._cdp is not None:
            task = asyncio.ensure_future(self._cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]}))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a closing page may refuse the ack

    @property
    def latest(self) -> Frame | None:
        return self._latest

    def announce(self, state: str, text: str) -> None:
        """Tell every viewer what is happening (waiting for the person, logged in, failed...)."""
        self._status = Status(self._status.seq + 1, state, text)
        for viewer in self._viewers:
            viewer.set()

    async def updates(self) -> AsyncIterator[Frame | Status]:
        """What one viewer should see: the latest frame and status at once, then each newer one it has time for.

        Ends after the last status once the view is closed."""
        ready = asyncio.Event()
        self._viewers.add(ready)
        shown = told = 0
        ready.set()
        try:
            while True:
                await ready.wait()
                ready.clear()
                status, frame = self._status, self._latest
                if frame is not None and frame.seq > shown:
                    shown = frame.seq
                    yield frame
                if status.seq > told:
                    told = status.seq
                    yield status
                if self.closed.is_set():
                    return
        finally:
            self._viewers.discard(ready)

    # -- input in --------------------------------------------------------------------------------------
    def _point(self, message: Mapping[str, Any]) -> tuple[float, float]:
        frame = self._latest
        if frame is None:
            raise InputRefused("no frame shown yet")
        return _fraction(message, "x") * frame.width, _fraction(message, "y") * frame.height + frame.offset_top

    async def handle(self, message: Mapping[str, Any]) -> None:
        """Relay one input message to the page.

        ``{"type": "mouse", "action": "down"|"up"|"move", "x", "y", "button"?, "clicks"?}``,
        ``{"type": "wheel", "x", "y", "dx", "dy"}``, ``{"type": "key", "key": "Enter"|...}`` (the names in
        :data:`SPECIAL_KEYS`, with ``ctrl``/``shift``/``alt``/``meta``), ``{"type": "text", "text": "..."}``.
        Raises InputRefused for anything else.
        """
        if self._cdp is None:
            raise InputRefused("the live view has ended")
        kind = message.get("type")
        if kind == "mouse":
            await self._mouse(message)
        elif kind == "wheel":
            x, y = self._point(message)
            await self._cdp.send("Input.dispatchMouseEvent", {
                "type": "mouseWheel", "x": x, "y": y, "deltaX": _number(message, "dx", 5000),
                "deltaY": _number(message, "dy", 5000)})
        elif kind == "key":
            await self._key(message)
        elif kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
                raise InputRefused(f"text must be 1 to {MAX_TEXT} characters")
            await self._cdp.send("Input.insertText", {"text": text})
        else:
            raise InputRefused(f"unknown input type {kind!r}")

    async def _mouse(self, message: Mapping[str, Any]) -> None:
        assert self._cdp is not None
        action = _MOUSE_TYPES.get(str(message.get("action")))
        button = str(message.get("button", "left"))
        if action is None or button not in _BUTTONS:
            raise InputRefused("mouse needs action down|up|move and button left|right|middle|none")
        x, y = self._point(message)
        clicks = message.get("clicks", 1)
        if isinstance(clicks, bool) or not isinstance(clicks, int) or not 0 <= clicks <= 3:
            raise InputRefused("clicks must be 0 to 3")
        pressed = action == "mousePressed" or (action == "mouseMoved" and message.get("pressed") is True)
        await self._cdp.send("Input.dispatchMouseEvent", {
            "type": action, "x": x, "y": y, "modifiers": _modifiers(message),
            "button": button if action != "mouseMoved" or pressed else "none",
            "buttons": _BUTTONS[button] if pressed else 0,
            "clickCount": clicks if action != "mouseMoved" else 0})

    async def _key(self, message: Mapping[str, Any]) -> None:
        assert self._cdp is not None
        key = message.get("key")
        modifiers = _modifiers(message)
        if key in SPECIAL_KEYS:
            code, vk, text = SPECIAL_KEYS[str(key)]
        elif isinstance(key, str) and len(key) == 1 and key.isascii() and key.isalnum() and modifiers & 6:
            code, vk, text = f"Key{key.upper()}" if key.isalpha() else f"Digit{key}", ord(key.upper()), ""
        else:
            raise InputRefused("key must be a named key, or a letter or digit with ctrl or meta")
        common = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk,
                  "modifiers": modifiers}
        down: dict[str, Any] = {"type": "keyDown" if text else "rawKeyDown", **common}
        if text:
            down |= {"text": text, "unmodifiedText": text}
        if key == "a" and modifiers & 6:
            down["commands"] = ["selectAll"]  # what ctrl+A does in a text field, which headless does not infer
        await self._cdp.send("Input.dispatchKeyEvent", down)
        await self._cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **common})
