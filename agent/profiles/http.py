"""Provider calls through the account's browser context, classified into the provider error kinds.

``context.request`` shares the context's cookies, so an API call made here is made "as the logged-in
page", without loading any page.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin

from playwright.async_api import APIRequestContext
from playwright.async_api import Error as PlaywrightError

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


async def call(
    request: APIRequestContext,
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
    options: dict[str, Any] = {
        "method": spec.method,
        "headers": {k: str(v) for k, v in render(spec.headers, filled, zone).items()},
        "params": {k: str(v) for k, v in render(spec.query, filled, zone).items()},
        "timeout": timeout_seconds * 1000,
        "fail_on_status_code": False,
    }
    if spec.json_body is not None:
        options["data"] = json.dumps(render(spec.json_body, filled, zone), ensure_ascii=False)
        options["headers"].setdefault("Content-Type", "application/json;charset=UTF-8")
    elif spec.form is not None:
        options["form"] = {k: str(v) for k, v in render(spec.form, filled, zone).items()}
    try:
        response = await request.fetch(url, **options)
        body = await response.body()
    except PlaywrightError as exc:
        raise classify_playwright(exc, step) from exc
    status = response.status
    if status in expired.status or (expired.url and glob_match(expired.url, response.url)):
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
