"""Delivering one alert through Apprise: one outcome per configured URL, and never a URL in a log line.

Apprise URLs carry the channel's credentials (a bot token, a webhook path, a password), and even
Apprise's own "privacy" form keeps webhook paths and ntfy topics, so a URL is only ever shown as its
position in ``MAPAY_ALERT_URLS`` and its scheme: ``#2 tgram://…``.

Each URL gets its own ``Apprise`` object for each alert: most plugins throttle a second message through
the same object by sleeping 5.5 s, and the URLs are sent to concurrently, each bounded by the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

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


async def deliver(urls: list[str], alert: Alert, seconds: float) -> list[Delivery]:
    """Send ``alert`` to every URL at once; each outcome comes back, none raises, none outlasts ``seconds``."""
    return list(await asyncio.gather(*(_deliver_one(i, url, alert, seconds) for i, url in enumerate(urls, 1))))


async def _deliver_one(index: int, url: str, alert: Alert, seconds: float) -> Delivery:
    label = url_label(index, url)
    channel = apprise.Apprise()
    if not channel.add(url):
        return Delivery(label, "?", Outcome.INVALID)
    service = str(next(iter(channel)).service_name)
    try:
        # Apprise's own call timeout reports unfinished services; ours is the guarantee, since a plugin's
        # blocking request runs in a worker thread that cancellation cannot stop (it ends on its socket timeout).
        async with asyncio.timeout(seconds + 1.0):
            result = await channel.async_notify(
                body=alert.body, title=alert.title, notify_type=alert.level.value, body_format="text", timeout=seconds,
            )
    except TimeoutError:
        return Delivery(label, service, Outcome.TIMEOUT)
    except Exception:  # a plugin bug must not reach the alert worker
        return Delivery(label, service, Outcome.FAILED)
    with result:
        if result:
            return Delivery(label, service, Outcome.SENT)
        timed_out = result.timeout_count > 0
    return Delivery(label, service, Outcome.TIMEOUT if timed_out else Outcome.FAILED)
