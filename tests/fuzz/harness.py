"""Fuzzing the running gateway over HTTP: its routes read from ``app.router``, malformed requests drawn by
hypothesis, and the three things that must hold for every request.

1. no answer is a 5xx;
2. nothing is logged at error level with a traceback (structlog events and stdlib records, which is where
   aiohttp reports an unhandled exception);
3. a refused request (4xx) writes nothing: the writer connection's ``total_changes()`` is the same after it.

The gateway runs on its own event loop in a thread, so the hypothesis test is plain synchronous code and
sends raw bytes with ``http.client`` (any method, any body, any Content-Type). ``scripts/fuzz`` runs the same
test for minutes instead of seconds.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web
from hypothesis import strategies as st

from agent.appkeys import MERCHANTS
from agent.ops.health import BROWSER_PROBE
from agent.settings import Settings
from tests.allocation.pool_setup import add_code
from tests.support.admin_http import AdminSession, admin_session
from tests.support.db_state import write_count
from tests.support.factories import insert_order
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.logs import Logged

T = TypeVar("T")
SETTLE_SECONDS = 0.15  # after a request that may have started background writes (a notify after 补单...)
_GROUP = re.compile(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)")


@dataclass(frozen=True)
class Route:
    path: str  # the template, "/pay/{trade_no}/method"
    methods: frozenset[str]
    params: dict[str, str]  # placeholder -> its regex
    static: bool = False


def app_routes(app: web.Application) -> list[Route]:
    """Every route of the app and of its sub-applications (the admin console), as templates."""
    found: list[Route] = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            found += app_routes(info["app"])
            continue
        methods = frozenset(route.method for route in resource)
        if "directory" in info:
            found.append(Route(info["prefix"] + "/{filename}", methods, {"filename": "[^/]+"}, static=True))
        elif "pattern" in info:
            params = dict(_GROUP.findall(info["pattern"].pattern))
            found.append(Route(info["formatter"], methods, params))
        else:
            found.append(Route(info["path"], methods, {}))
    return found


@dataclass
class Known:
    """Real ids and tokens in the fuzzed database, so requests also reach handlers past the lookups."""

    pid: int
    key: str
    trade_no: str
    account_id: int
    code_id: int
    admin: AdminSession


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str  # quoted path and query
    body: bytes
    headers: dict[str, str]
    signed_in: bool
    route: str


@dataclass
class Figures:
    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, request: FuzzRequest, status: int) -> None:
        self.sent += 1
        self.by_status[status] += 1
        self.by_route[request.route] += 1

    def summary(self, title: str) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.by_status.items()))
        routes = len({key.rsplit(" ", 1)[0] for key in self.by_route})
        return f"{title}: {self.sent} requests over {routes} routes; by status {{{statuses}}}"

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "routes": len({key.rsplit(" ", 1)[0] for key in self.by_route}), "failures": self.failures}


class GatewayThread:
    """The real gateway on 127.0.0.1, on its own event loop in a thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)
        self.gateway: RunningGateway | None = None
        self.error: BaseException | None = None

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with running_gateway(self._settings) as gateway:
                self.gateway = gateway
                gateway.app[BROWSER_PROBE]._check = _browser_ok  # /healthz must not launch Chromium here
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self._ready.set()

    def start(self) -> RunningGateway:
        self._thread.start()
        self._ready.wait(60)
        if self.error is not None or self.gateway is None:
            raise RuntimeError("the gateway did not start") from self.error
        return self.gateway

    def run(self, work: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        async def call() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        self._loop.close()


async def _browser_ok(_: Settings) -> str:
    return "not launched by the fuzz"


@contextmanager
def fuzzed_gateway(settings: Settings) -> Iterator[tuple[GatewayThread, Known]]:
    thread = GatewayThread(settings.model_copy(update={"notify_timeout_seconds": 1}))
    gateway = thread.start()
    try:
        yield thread, thread.run(lambda: _populate(gateway))
    finally:
        thread.close()


async def _populate(gateway: RunningGateway) -> Known:
    merchant = await gateway.app[MERCHANTS].create("模糊测试商户")
    code = await add_code(gateway, terminal_id="T1")
    order = await insert_order(gateway.app, merchant, code, type=None)
    admin = await admin_session(gateway)
    return Known(merchant.pid, merchant.key, order.trade_no, code.account_id, code.id, admin)


# ---- strategies --------------------------------------------------------------------------------------

NASTY_TEXT = [
    "", " ", "0", "-1", "1", "²", "٣", "１", "1e3", "1.234", "99999999999999999999999", "9223372036854775808",
    "9" * 5000, "NaN", "null", "true", "\x00", "\ud7ff", "../../etc/passwd", "..", "%", "%ff", "<script>",
    "a b", "订单", "0.00", "1000000.01", "http://", "javascript:alert(1)", "ftp://127.0.0.1/", "MD5", "RSA",
    "alipay", "wxpay", "order", "orders", "query", "mark_paid", "pending", "2026-13-45", "2026-01-31",
]
FIELD_NAMES = [
    "pid", "key", "act", "limit", "trade_no", "out_trade_no", "type", "money", "name", "notify_url",
    "return_url", "clientip", "device", "param", "sitename", "sign", "sign_type", "page", "status",
    "date_from", "date_to", "amount", "q", "notify", "account", "payload", "terminal_id", "label", "daily_cap",
    "enabled", "otp", "reason", "username", "password", "platform", "base_url", "next", "back", "_csrf", "",
]
CONTENT_TYPES = [
    None, "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=gbk",
    "application/x-www-form-urlencoded; charset=nonsense", "application/x-www-form-urlencoded; charset=hex",
    "multipart/form-data; boundary=zz", "multipart/form-data", "multipart/form-data; boundary=\"\"",
    "application/json", "application/json; charset=utf-16", "text/plain", "application/octet-stream",
]
# Signing out would end the fuzz's session and 测试登录 would start Chromium: there, only refused requests.
NO_VALID_TOKEN = frozenset({"/admin/logout", "/admin/accounts/{id}/test"})
OTHER_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

text_values = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=40))
field_names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))
pairs = st.lists(st.tuples(field_names, text_values), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _number_like(known: Known) -> st.SearchStrategy[str]:
    real = [str(known.pid), str(known.account_id), str(known.code_id), "1", "2"]
    return st.one_of(st.sampled_from(real), st.sampled_from(NASTY_TEXT), st.integers(0, 2**70).map(str))


def _param(name: str, regex: str, known: Known) -> st.SearchStrategy[str]:
    choices: list[st.SearchStrategy[str]] = [text_values.filter(lambda v: v not in ("", ".", "..") and "/" not in v)]
    if name in ("id", "pid"):
        choices.append(_number_like(known))
    if name == "trade_no":
        choices.append(st.just(known.trade_no))
    if name == "filename":
        choices.append(st.sampled_from(["admin.css", "admin.js", "cashier.css", "cashier.js", "x.css"]))
    choices.append(st.from_regex(regex, fullmatch=True).filter(lambda v: bool(v) and "/" not in v))
    return st.one_of(*choices)


def _urlencoded(items: list[tuple[str, str]], raw_tail: bytes) -> bytes:
    return urlencode(items).encode() + raw_tail


def _multipart(items: list[tuple[str, str]], with_file: bool, cut: int | None) -> bytes:
    parts = []
    for name, value in items:
        parts.append(
            f'--zz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode("utf-8", "surrogatepass")
            + value.encode("utf-8", "surrogatepass") + b"\r\n"
        )
    if with_file:
        parts.append(b'--zz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
                     b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nnot really\r\n")
    body = b"".join(parts) + b"--zz--\r\n"
    return body if cut is None else body[:cut]


@st.composite
def fuzz_requests(draw: st.DrawFn, routes: list[Route], known: Known) -> FuzzRequest:
    route = draw(st.sampled_from(routes))
    own = st.sampled_from(sorted(route.methods))
    method = draw(st.one_of(own, own, own, st.sampled_from(OTHER_METHODS)))  # mostly the route's own
    path = route.path
    for name, regex in route.params.items():
        path = path.replace("{" + name + "}", quote(draw(_param(name, regex, known)), safe=""))
    query = draw(pairs)
    if query:
        path += "?" + urlencode(query)
    signed_in = draw(st.booleans())
    items = draw(pairs)
    if signed_in and route.path not in NO_VALID_TOKEN and draw(st.booleans()):
        items.append(("_csrf", known.admin.csrf))
    kind = draw(st.sampled_from(["none", "urlencoded", "multipart", "json", "deep json", "bytes"]))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    body = b""
    if kind == "urlencoded":
        body = _urlencoded(items, draw(st.sampled_from([b"", b"&a=\xff\xfe", b"&%ff=1", b"&=&&=="])))
        content_type = content_type or "application/x-www-form-urlencoded"
    elif kind == "multipart":
        body = _multipart(items, draw(st.booleans()), draw(st.none() | st.integers(0, 200)))
        content_type = draw(st.sampled_from(["multipart/form-data; boundary=zz", "multipart/form-data; boundary=yy"]))
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
        content_type = content_type or "application/json"
    elif kind == "deep json":
        depth = draw(st.integers(10, 3000))
        body = draw(st.sampled_from([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth]))
        content_type = "application/json"
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    headers = {"Content-Type": content_type} if content_type else {}
    if signed_in:
        headers["Cookie"] = known.admin.cookie
    return FuzzRequest(method, path, body, headers, signed_in, f"{route.path} {method}")


SWEEP_BODIES = {
    "none": (None, b""),
    "broken multipart": ("multipart/form-data; boundary=zz", b"garbage"),
    "not utf-8": ("application/x-www-form-urlencoded", b"a=\xff\xfe"),
    "deep json": ("application/json", b"[" * 1000 + b"]" * 1000),
}


def _real_value(route: Route, name: str, regex: str, known: Known) -> str:
    if name == "trade_no":
        return known.trade_no
    if name == "pid":
        return str(known.pid)
    if name == "id":
        return str(known.code_id if route.path.startswith("/admin/codes") else known.account_id)
    if name == "filename":
        return "admin.css" if "admin" in route.path else "cashier.css"
    return regex.split("|")[0] if "|" in regex else "x"


def sweep_requests(routes: list[Route], known: Known) -> Iterator[FuzzRequest]:
    """Every route, with each of its methods and one it refuses, each awkward body, signed in and not."""
    for route in routes:
        path = route.path
        for name, regex in route.params.items():
            path = path.replace("{" + name + "}", _real_value(route, name, regex, known))
        methods = [*sorted(route.methods), next(m for m in OTHER_METHODS if m not in route.methods)]
        for method in methods:
            for content_type, body in SWEEP_BODIES.values():
                for signed_in in (False, True):
                    headers = {"Content-Type": content_type} if content_type else {}
                    if signed_in:
                        headers["Cookie"] = known.admin.cookie
                    yield FuzzRequest(method, path, body, headers, signed_in, f"{route.path} {method}")


# ---- sending and checking ----------------------------------------------------------------------------


def send(port: int, request: FuzzRequest) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(request.method, request.path, body=request.body or None, headers=request.headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass
class Checker:
    thread: GatewayThread
    logged: Logged
    figures: Figures
    _seen_errors: int = 0
    _may_write_in_background: bool = False

    def check(self, request: FuzzRequest) -> None:
        gateway = self.thread.gateway
        assert gateway is not None
        port = int(gateway.url.rsplit(":", 1)[1])
        if self._may_write_in_background:
            time.sleep(SETTLE_SECONDS)
        before = self.thread.run(lambda: write_count(gateway))
        status = send(port, request)
        after = self.thread.run(lambda: write_count(gateway))
        self.figures.record(request, status)
        self._may_write_in_background = status < 400 and request.method not in ("GET", "HEAD")
        problems = []
        if status >= 500:
            problems.append(f"answered {status}")
        errors = self.logged.errors_with_traceback()
        if len(errors) > self._seen_errors:
            problems.append(f"logged with a traceback: {errors[self._seen_errors:]}")
            self._seen_errors = len(errors)
        if 400 <= status < 500 and after != before:
            problems.append(f"refused with {status} but wrote {after - before} rows")
        if problems:
            message = f"{request.method} {request.path} ({request.headers}, body {request.body[:200]!r}): " + "; ".join(problems)
            self.figures.failures.append(message)
            raise AssertionError(message)
