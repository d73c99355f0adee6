"""Signed notifies to merchants, from a persisted outbox with retries."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Start the notify worker (filled in by the notify module)."""
