"""The cashier's one call into the poll scheduler: "the payer says they paid, read this account now"."""

from __future__ import annotations

import inspect

import structlog
from aiohttp import web

from agent import polling

log = structlog.get_logger(__name__)


async def request_poll(app: web.Application, account_id: int) -> bool:
    """Ask for an immediate read of ``account_id``; False when no scheduler runs in this app."""
    key = getattr(polling, "POLL_SCHEDULER", None)
    scheduler = app.get(key) if key is not None else None
    if scheduler is None:
        log.warning("cashier_no_poll_scheduler", account_id=account_id)
        return False
    outcome = scheduler.request_poll(account_id)
    if inspect.isawaitable(outcome):
        await outcome
    return True
