"""Provider calls made with a logged-in session, classified into the provider error kinds.

Two transports carry them (:class:`Transport`): :class:`HttpTransport`, a plain aiohttp client holding the
session exported from the browser after the login (its cookies, the browser's User-Agent), which is how
reads normally go; and :class:`BrowserTransport`, the account's browser context (``context.request``
shares the context's cookies, so a call is made "as the logged-in page" without loading any page), for
profiles that say ``transport: browser`` and for the login side.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from http.cookies import Morsel
from typing import Any, Protocol
from urllib.parse import urljoin

import aiohttp
from playwright.async_api import APIRequestContext
from playwright.async_api import Error as PlaywrightError
from yarl import URL

from agent.browser.runtime import browser_gone
from agent.profiles.model import Expired, Request
from agent.profiles.template import render
from agent.providers.base import LayoutChanged, SessionExpired, TransientError


class BrowserGone(Exception):
    """The browser or its context died under a job: relaunch and retry the job."""


def moment_values() -> dict[str, Any]:
    """Placeholders whose value is taken when a request is built."""
    return {"now": datetime.now(UTC), "uuid": uuid.uuid4().hex}


def absolute_url(base_url: str, path: str) -> str:
    return urljoin(base_url.rstrip("/") + "/", path.lstrip("/")) if "://" not in path else path


def glob_match(pattern: str, url: str) -> bool:
    """Playwright-style URL glob: ``**`` any characters, ``*`` any but ``/``."""
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts)
    return re.fullmatch(regex, url) is not None


def classify_playwright(exc: PlaywrightError, step: str) -> Exception:
    """A Playwright failure as the error the scheduler understands."""
    if browser_gone(exc):
        return BrowserGone(str(exc))
    return TransientError(f"{step}: {str(exc).splitlines()[0]}")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a provider answered: status, the final URL (after redirects), the body and its content type."""

    status: int
    url: str
    body: bytes
    content_type: str


class Transport(Protocol):
    """Sends one request with the account's session; raises TransientError (or BrowserGone) when it cannot."""

    async def fetch(
        self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
        data: bytes | None = None, form: Mapping[str, str] | None = None, timeout_seconds: float, step: str,
    ) -> Answer: ...


class BrowserTransport:
    """Calls through a browser context's ``request`` (its cookies, its User-Agent)."""

    def __init__(self, request: APIRequestContext) -> None:
        self._request = request

    async def fetch(
        self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
        data: bytes | None = None, form: Mapping[str, str] | None = None, timeout_seconds: float, step: str,
    ) -> Answer:
        options: dict[str, Any] = {"method": method, "headers": dict(headers), "timeout": timeout_seconds * 1000,
                                   "fail_on_status_code": False}
        if params:
            options["params"] = dict(params)
        if data is not None:
            options["data"] = data
        elif form is not None:
            options["form"] = dict(form)
        try:
            response = await self._request.fetch(url, **options)
            body = await response.body()
        except PlaywrightError as exc:
            raise classify_playwright(exc, step) from exc
        return Answer(response.status, response.url, body, response.headers.get("content-type", ""))


class HttpTransport:
    """A plain HTTP client carrying a session exported from the browser: one per account, connections kept.

    The cookie jar starts from the browser's cookies (Playwright's ``storage_state`` shape) and follows the
    provider's Set-Cookie answers; :meth:`cookies` gives them back in the same shape, to be saved.
    """

    def __init__(self, cookies: list[dict[str, Any]], user_agent: str | None) -> None:
        self._jar = aiohttp.CookieJar(unsafe=True)  # unsafe: back offices on an IP address (tests, intranets)
        for cookie in cookies:
            restore_cookie(self._jar, cookie)
        self._seen = _jar_key(self._jar)
        headers = {"Accept-Language": "zh-CN,zh;q=0.9"}
        if user_agent:
            headers["User-Agent"] = user_agent
        self._session = aiohttp.ClientSession(
            cookie_jar=self._jar, headers=headers,
            connector=aiohttp.TCPConnector(limit=4, keepalive_timeout=30.0, enable_cleanup_closed=True),
        )

    async def fetch(
        self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
        data: bytes | None = None, form: Mapping[str, str] | None = None, timeout_seconds: float, step: str,
    ) -> Answer:
        target = URL(url, encoded=True)
        if params:
            target = target.update_query(dict(params))
        try:
            async with self._session.request(
                method, target, headers=dict(headers), data=data if data is not None else form,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            ) as response:
                body = await response.read()
                return Answer(response.status, str(response.url), body, response.headers.get("Content-Type", ""))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"{step}: {type(exc).__name__}: {str(exc)[:200]}") from exc

    @property
    def cookies_changed(self) -> bool:
        """Whether the provider set cookies since the last call of :meth:`cookies`."""
        return _jar_key(self._jar) != self._seen

    def cookies(self) -> list[dict[str, Any]]:
        """The jar's cookies in Playwright's shape (what a browser context is restored from)."""
        self._seen = _jar_key(self._jar)
        return [_exported(morsel) for morsel in self._jar]

    async def close(self) -> None:
        await self._session.close()


def restore_cookie(jar: aiohttp.CookieJar, cookie: Mapping[str, Any]) -> None:
    """Put one cookie as Playwright reports it (name, value, domain, path, expires, secure, httpOnly) in ``jar``."""
    morsel: Morsel[str] = Morsel()
    morsel.set(cookie["name"], cookie["value"], cookie["value"])
    domain = str(cookie.get("domain") or "")
    host = domain.lstrip(".")
    if domain.startswith("."):
        morsel["domain"] = host  # a domain cookie; without the attribute aiohttp keeps it host-only
    morsel["path"] = cookie.get("path") or "/"
    expires = float(cookie.get("expires", -1) or -1)
    if expires > 0:
        remaining = int(expires - time.time())
        if remaining <= 0:
            return
        morsel["max-age"] = str(remaining)
    if cookie.get("secure"):
        morsel["secure"] = True
    if cookie.get("httpOnly"):
        morsel["httponly"] = True
    scheme = "https" if cookie.get("secure") else "http"
    jar.update_cookies({cookie["name"]: morsel}, URL(f"{scheme}://{host}{morsel['path']}"))


def _exported(morsel: Morsel[str]) -> dict[str, Any]:
    expires = -1.0
    if morsel["max-age"]:
        expires = time.time() + int(morsel["max-age"])
    elif morsel["expires"]:
        try:
            expires = parsedate_to_datetime(morsel["expires"]).timestamp()
        except (TypeError, ValueError):
            expires = -1.0
    return {"name": morsel.key, "value": morsel.value, "domain": morsel["domain"], "path": morsel["path"] or "/",
            "expires": expires, "httpOnly": bool(morsel["httponly"]), "secure": bool(morsel["secure"]),
            "sameSite": "Lax"}


def _jar_key(jar: aiohttp.CookieJar) -> frozenset[tuple[str, str, str, str]]:
    return frozenset((m["domain"], m["path"], m.key, m.value) for m in jar)


async def call(
    transport: Transport,
    spec: Request,
    values: dict[str, Any],
    *,
    base_url: str,
    zone: tzinfo,
    expired: Expired,
    step: str,
    timeout_seconds: float,
) -> Any:
    """Make the call and return its JSON; raises TransientError, SessionExpired, LayoutChanged, BrowserGone."""
    filled = {**values, **moment_values()}
    url = absolute_url(base_url, render(spec.url, filled, zone))
    headers = {k: str(v) for k, v in render(spec.headers, filled, zone).items()}
    params = {k: str(v) for k, v in render(spec.query, filled, zone).items()}
    data: bytes | None = None
    form: dict[str, str] | None = None
    if spec.json_body is not None:
        data = json.dumps(render(spec.json_body, filled, zone), ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json;charset=UTF-8")
    elif spec.form is not None:
        form = {k: str(v) for k, v in render(spec.form, filled, zone).items()}
    answer = await transport.fetch(spec.method, url, headers=headers, params=params, data=data, form=form,
                                   timeout_seconds=timeout_seconds, step=step)
    status, body = answer.status, answer.body
    if status in expired.status or (expired.url and glob_match(expired.url, answer.url)):
        raise SessionExpired(f"{step}: HTTP {status}")
    if status == 429 or status >= 500:
        raise TransientError(f"{step}: HTTP {status}")
    if status >= 400:
        raise LayoutChanged(step, f"HTTP {status} from {spec.method} {spec.url}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise LayoutChanged(step, f"answer is not JSON ({body[:80]!r})") from exc
    if any(condition.matches(data) for condition in expired.when):
        raise SessionExpired(f"{step}: the provider says the session is gone")
    return data
