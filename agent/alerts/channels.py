"""Delivering alerts through Apprise: one outcome per configured URL, and never a URL in a log line.

Apprise URLs carry the channel's credentials (a bot token, a webhook path, a password), and even
Apprise's own "privacy" form keeps webhook paths and ntfy topics, so a URL is only ever shown as its
position in ``MAPAY_ALERT_URLS`` and its scheme: ``#2 tgram://…``.

Each URL sends from a thread of its own. Apprise's plugins make blocking HTTP requests, and in its async
mode they share one small pool: a channel that never answers would hold its workers until their socket
timeouts and starve the healthy channels. Here a hanging channel only delays its own later messages, and
we stop waiting for it after the timeout. Each send builds a fresh ``Apprise`` object, because most
plugins throttle a second message through the same object by sleeping 5.5 s.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

import apprise

from agent.alerts.messages import Alert


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # the channel answered with an error, or could not be reached
    TIMEOUT = "timeout"  # still busy when the timeout ran out
    INVALID = "invalid"  # Apprise does not understand the URL


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one alert on one configured URL."""

    label: str  # "#1 json://…": safe to print and log
    service: str  # Apprise's name of the service, e.g. "Telegram", "WeCom Bot"
    outcome: Outcome

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


def url_label(index: int, url: str) -> str:
    """Position and scheme only: everything after ``://`` may be a credential."""
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"#{index} {scheme}://…"


def quiet_apprise_logging() -> None:
    """Keep Apprise's own log records (some name hosts or URLs) out of our stderr; we log one line per failure.

    Without a handler of its own, Python's last-resort handler would print Apprise's warnings unformatted.
    """
    logger = logging.getLogger("apprise")
    logger.propagate = False
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())


class Channels:
    """The configured URLs with one sending thread each; use as ``with Channels(urls) as channels``."""

    def __init__(self, urls: list[str]) -> None:
        self._urls = list(urls)
        self._threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"alert-channel-{index}")
            for index in range(1, len(self._urls) + 1)
        ]

    def __enter__(self) -> Channels:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._urls)

    def close(self) -> None:
        """Drop queued sends; one already running ends on its own socket timeout, in its own thread."""
        for thread in self._threads:
            thread.shutdown(wait=False, cancel_futures=True)

    async def deliver(self, alert: Alert, seconds: float) -> list[Delivery]:
        """Send ``alert`` to every URL at once; each outcome comes back, none raises, none outlasts ``seconds``."""
        return list(await asyncio.gather(*(self._deliver_one(i, alert, seconds) for i in range(len(self._urls)))))

    async def _deliver_one(self, position: int, alert: Alert, seconds: float) -> Delivery:
        label = url_label(position + 1, self._urls[position])
        channel = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))  # send on the calling thread
        if not channel.add(self._urls[position]):
            return Delivery(label, "?", Outcome.INVALID)
        service = str(next(iter(channel)).service_name)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):  # cancelling also drops the send if it is still queued
                sent = await loop.run_in_executor(self._threads[position], _send, channel, alert)
        except TimeoutError:
            return Delivery(label, service, Outcome.TIMEOUT)
        except Exception:  # a plugin bug must not reach the alert worker
            return Delivery(label, service, Outcome.FAILED)
        return Delivery(label, service, Outcome.SENT if sent else Outcome.FAILED)


def _send(channel: apprise.Apprise, alert: Alert) -> bool:
    with channel.notify(body=alert.body, title=alert.title, notify_type=alert.level.value, body_format="text") as result:
        return bool(result)
