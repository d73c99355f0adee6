"""Polling: read the transaction lists of accounts that have live orders."""

from aiohttp import web

from agent.providers.base import ProviderFactory


def setup(app: web.Application, provider_factory: ProviderFactory | None) -> None:
    """Start the poll scheduler (filled in by the polling module)."""
