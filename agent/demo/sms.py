"""Plays the person who reads the SMS: one-time codes of simulated back offices typed in for mapay.

On a real deployment a person reads the code on the account's phone and runs ``mapay account otp``. Here the
phone is the simulated back office's ``/__control/otp``: whenever an account it knows waits in
``needs_human``, the reader fetches the latest code and delivers it exactly as that command does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import structlog

from agent.accounts import AccountBook
from agent.accounts.otp import deliver_otp
from agent.crypto import SecretBox
from agent.db import Database
from agent.demo.world import SimulatedAccount
from agent.recurring import RecurringTask
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
        for account_id in await AccountBook(self._db, self._box).waiting_for_code():
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
        """Read every ``interval_seconds`` for the duration of the block; a failed read is logged and the next
        one comes anyway (an account must never wait forever for its code)."""
        async with RecurringTask(self.read_once, self._interval, name="demo-sms-reader").running():
            yield self
