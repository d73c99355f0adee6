"""structlog setup: readable console on a TTY, one JSON object per line otherwise, secrets redacted.

Records of the standard ``logging`` module (aiohttp's ``aiohttp.server``, ``aiohttp.access``,
``aiohttp.web``, asyncio, ...) go through the same pipeline: a bad request line that aiohttp logs with a
traceback becomes one JSON line, with the secrets of any query string in it (``key=``, ``sign=``,
passwords, tokens) replaced by ``***``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError

from agent.redaction import SECRET_KEYS, redact_data, redact_query_secrets

__all__ = ["SECRET_KEYS", "configure_logging", "redact", "redact_query_secrets"]

STDLIB_LEVEL = logging.WARNING  # what other libraries may say; ours (structlog) has its own level


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of any secret-looking field (at any depth), and query-string secrets inside any text."""
    redacted: MutableMapping[str, Any] = redact_data(event)
    return redacted


class StructlogBridge(logging.Handler):
    """Hands standard-library log records to structlog: one event per record, traceback as a field.

    The message and the traceback are rendered here (aiohttp's parser errors quote the raw request line)
    and pass the same redaction as every other event.
    """

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            error = record.exc_info[1] if record.exc_info else None
            if isinstance(error, HttpProcessingError) and 400 <= (error.code or 400) < 500:
                # A request aiohttp could not parse (bad characters, a line over 8,190 bytes, a bad header): it
                # answered 400; the client's mistake, not a crash: one line at info, no traceback.
                fields["error"] = f"{type(error).__name__}: {error}"
                fields["message"] = record.getMessage()
                structlog.get_logger(record.name).info("http_request_refused", **fields)
                return
            if record.exc_info and record.exc_info[0] is not None:
                fields["exception"] = self._formatter.formatException(record.exc_info)
            elif record.exc_text:
                fields["exception"] = record.exc_text
            structlog.get_logger(record.name).log(record.levelno, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


def _route_stdlib_logging() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StructlogBridge)]:
        root.removeHandler(handler)
    root.addHandler(StructlogBridge())
    root.setLevel(STDLIB_LEVEL)
    # aiohttp's loggers send everything to the root; the access log stays off (agent/ops/serving.py).
    for name in ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.client", "aiohttp.internal"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,  # after format_exc_info: a traceback's text is redacted too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging()
