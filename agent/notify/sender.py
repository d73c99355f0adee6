"""One notify attempt: the signed epay GET and how the merchant's answer is read.

Redirects are never followed: a redirect is a failed attempt (its target is not checked by the merchant's
choice of notify_url, and following it would reach wherever the redirect points). At most ``READ_LIMIT``
bytes of the answer are read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from agent.notify.outbox import Attempt, Outcome

EXCERPT_CHARS = 200
READ_LIMIT = 4096  # an acknowledgement is one word; never buffer a merchant's whole error page


def notify_url(base: str, params: Mapping[str, str]) -> str:
    """The merchant's notify_url with the signed fields appended to its query string."""
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def is_ack(body: str) -> bool:
    """epay peers accept "success", trimmed and in any case (after the BOM some PHP sites print first)."""
    return body.strip().lstrip("\ufeff").strip().lower() == "success"


def refused(url: str, reason: str) -> Attempt:
    """The attempt recorded for a notify the egress policy did not let out (nothing was sent)."""
    return Attempt(url, Outcome.ERROR, None, "", 0, f"refused: {reason}"[:EXCERPT_CHARS])


async def send_notify(session: aiohttp.ClientSession, url: str, timeout_s: float) -> Attempt:
    """GET ``url`` once and classify the answer; never raises for network trouble."""
    started = time.monotonic()
    try:
        async with session.get(
            URL(url, encoded=True), timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=False
        ) as response:
            body = (await _read_at_most(response.content, READ_LIMIT)).decode("utf-8", errors="replace")
            status = response.status
            location = response.headers.get("Location", "")
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        return Attempt(url, Outcome.ERROR, None, "", _elapsed_ms(started), error[:EXCERPT_CHARS])
    if 300 <= status < 400:
        error = f"HTTP {status}: redirect to {location or '(no Location)'} not followed"
        return Attempt(url, Outcome.REJECTED, status, body[:EXCERPT_CHARS], _elapsed_ms(started), error[:EXCERPT_CHARS])
    outcome = Outcome.ACKED if is_ack(body) else Outcome.REJECTED
    return Attempt(url, outcome, status, body[:EXCERPT_CHARS], _elapsed_ms(started))


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (``read(n)`` alone may stop at the first chunk)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
