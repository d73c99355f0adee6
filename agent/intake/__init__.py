"""Order intake: the epay V1 endpoints and the native JSON API."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register intake routes (filled in by the intake module)."""
