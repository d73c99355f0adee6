"""What a recording saw: the person's events (from the injected script) and the page's HTTP exchanges.

The typed password is held in memory only, to recognise it (plain or hashed) in what the page sends;
every text that leaves this module for a file or a log goes through :class:`Secrets` first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from playwright.async_api import BrowserContext, Request, Response
from playwright.async_api import Error as PlaywrightError

from agent.recorder.script import BINDING, RECORDER_JS
from agent.redaction import redact_values

JSON_LIMIT = 2_000_000  # bytes of a JSON/HTML answer kept (transaction pages, login answers)
IMAGE_LIMIT = 500_000
KEPT_TYPES = ("xhr", "fetch", "document", "image")


class Secrets:
    """The typed password and the forms a page may send it in, each mapped to its placeholder."""

    def __init__(self) -> None:
        self._forms: dict[str, str] = {}

    def add_password(self, password: str) -> None:
        if len(password) < 1:
            return
        md5 = hashlib.md5(password.encode()).hexdigest()
        forms = {
            password: "{password}", quote(password, safe=""): "{password}", quote_plus(password): "{password}",
            md5: "{password_md5}", md5.upper(): "{password_md5}",
            hashlib.sha1(password.encode()).hexdigest(): "{password_sha1}",
            hashlib.sha256(password.encode()).hexdigest(): "{password_sha256}",
            base64.b64encode(password.encode()).decode(): "{password_base64}",
        }
        self._forms.update(forms)

    def redact(self, text: str) -> str:
        return redact_values(text, self._forms)

    def placeholder(self, value: str) -> str | None:
        """The placeholder of a value that IS the password in one of its forms."""
        return self._forms.get(value)

    def __bool__(self) -> bool:
        return bool(self._forms)


@dataclass
class UserEvent:
    """One message of the injected script (see agent.recorder.script)."""

    seq: int
    kind: str
    doc: str
    url: str
    at: float  # page clock, epoch ms
    data: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclass
class Exchange:
    """One request the page made and its answer (bodies as received; redact before writing)."""

    seq: int
    at: float  # when the request left, epoch ms
    method: str
    url: str
    resource_type: str
    headers: dict[str, str]
    post_data: str | None
    status: int
    content_type: str
    body: bytes = b""
    location: str = ""  # redirect target of a 3xx document answer

    @property
    def json(self) -> Any:
        if "json" not in self.content_type and self.body[:1] not in (b"{", b"["):
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def json_body(self) -> Any:
        if not self.post_data:
            return None
        try:
            return json.loads(self.post_data)
        except ValueError:
            return None


@dataclass
class Capture:
    """Everything seen in one recording context, in arrival order."""

    events: list[UserEvent] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    secrets: Secrets = field(default_factory=Secrets)
    _seq: int = 0
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _sent_at: dict[int, float] = field(default_factory=dict)

    async def attach(self, context: BrowserContext) -> None:
        await context.expose_binding(BINDING, self._on_message)
        await context.add_init_script(RECORDER_JS)
        context.on("request", self._on_request)
        context.on("response", self._on_response)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _on_message(self, source: Any, message: Any) -> None:
        if not isinstance(message, dict):
            return
        data = {k: v for k, v in message.items() if k not in ("kind", "doc", "url", "at")}
        event = UserEvent(self._next(), str(message.get("kind")), str(message.get("doc")), str(message.get("url")),
                          float(message.get("at") or 0), data)
        if event.kind == "fill" and event.get("type") == "password":
            self.secrets.add_password(str(event.get("value") or ""))
        self.events.append(event)

    def _on_request(self, request: Request) -> None:
        self._sent_at[id(request)] = time.time() * 1000

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type in KEPT_TYPES:
            task = asyncio.create_task(self._keep(response))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _keep(self, response: Response) -> None:
        request = response.request
        content_type = (response.headers.get("content-type") or "").lower()
        limit = IMAGE_LIMIT if content_type.startswith("image/") else JSON_LIMIT
        body = b""
        if 300 <= response.status < 400:
            body = b""
        elif request.resource_type != "image" or content_type.startswith("image/"):
            try:
                body = await response.body()
            except PlaywrightError:
                body = b""  # the page navigated away before the body could be read
        if len(body) > limit:
            body = b""
        self.exchanges.append(Exchange(
            self._next(), self._sent_at.pop(id(request), time.time() * 1000), request.method, request.url,
            request.resource_type, dict(request.headers), request.post_data, response.status, content_type, body,
            response.headers.get("location", ""),
        ))

    async def settle(self) -> None:
        """Wait for answers still being read (call before analysing)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        self.exchanges.sort(key=lambda x: (x.at, x.seq))
