"""What the gateway logged during a block: structlog events and stdlib records (aiohttp's own 500s)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Logged:
    events: list[MutableMapping[str, Any]] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

    def errors_with_traceback(self) -> list[str]:
        """Every error-level entry that carries a traceback, as ``event (path)`` for the assertion message."""
        found = [
            f"{event.get('event')} ({event.get('path', '')})" for event in self.events
            if event.get("log_level") in ("error", "critical", "exception") and event.get("exc_info")
        ]
        found += [f"{record.name}: {record.getMessage()}" for record in self.records if record.exc_info]
        return found

    def event(self, name: str) -> list[MutableMapping[str, Any]]:
        return [event for event in self.events if event.get("event") == name]


@contextmanager
def watch_logs() -> Iterator[Logged]:
    logged = Logged()
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with structlog.testing.capture_logs() as events:
            logged.events = events
            yield logged
    finally:
        root.removeHandler(handler)
        logged.records = handler.records
