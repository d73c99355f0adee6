"""The payer's cashier page."""

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register cashier routes (filled in by the cashier module)."""
