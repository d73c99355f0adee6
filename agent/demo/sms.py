"""Plays the person who reads the SMS: one-time codes of simulated back offices typed in for mapay.

On a real deployment a person reads the code on the account's phone and runs ``mapay account otp``. Here the
phone is the simulated back office's ``/__control/otp``: whenever an account it knows waits in
``needs_human``, the reader fetches the latest code and delivers it exactly as that command does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import structlog

from agent.accounts.otp import deliver_otp
from agent.crypto import SecretBox
from agent.db import Database
from agent.demo.world import SimulatedAccount
from fixtures.client import ControlError

log = structlog.get_logger(__name__)


class SmsReader:
    """Polls account health and answers each ``needs_human`` with the code the back office sent."""

    def __init__(self, db: Database, box: SecretBox, accounts: Iterable[SimulatedAccount],
                 interval_seconds: float = 0.5) -> None:
        self._db = db
        self._box = box
        self._accounts = {account.account_id: account for account in accounts}
        self._interval = interval_seconds
        self.delivered = 0

    async def read_once(self) -> None:
        """Deliver a code to every known account that is waiting for one."""
        rows = await self._db.fetchall("SELECT id FROM accounts WHERE health = 'needs_human'")
        for (account_id,) in rows:
            account = self._accounts.get(account_id)
            if account is None:
                continue
            try:
                code = await account.control.otp(account.username)
            except ControlError:
                continue  # no SMS sent yet: the login is still on its way to the code step
            await deliver_otp(self._db, self._box, account_id, code)
            self.delivered += 1
            log.info("demo_otp_delivered", account_id=account_id, platform=account.platform)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SmsReader]:
        task = asyncio.create_task(self._run(), name="demo-sms-reader")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.read_once()
            except Exception:  # a hiccup must not end the reader: the account would wait forever
                log.exception("demo_sms_reader_error")
            await asyncio.sleep(self._interval)
