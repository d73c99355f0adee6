"""One notify attempt: the signed epay GET and how the merchant's answer is read."""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from agent.notify.outbox import Attempt, Outcome

EXCERPT_CHARS = 200
_READ_LIMIT = 4096  # an acknowledgement is one word; never buffer a merchant's whole error page


def notify_url(base: str, params: Mapping[str, str]) -> str:
    """The merchant's notify_url with the signed fields appended to its query string."""
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def is_ack(body: str) -> bool:
    """epay peers accept "success", trimmed and in any case (after the BOM some PHP sites print first)."""
    return body.strip().lstrip("\ufeff").strip().lower() == "success"


async def send_notify(session: aiohttp.ClientSession, url: str, timeout_s: float) -> Attempt:
    """GET ``url`` once and classify the answer; never raises for network trouble."""
    started = time.monotonic()
    try:
        async with session.get(
            URL(url, encoded=True), timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            body = (await response.content.read(_READ_LIMIT)).decode("utf-8", errors="replace")
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        return Attempt(url, Outcome.ERROR, None, "", _elapsed_ms(started), error[:EXCERPT_CHARS])
    outcome = Outcome.ACKED if is_ack(body) else Outcome.REJECTED
    return Attempt(url, outcome, status, body[:EXCERPT_CHARS], _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
