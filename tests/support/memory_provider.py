"""An in-process Provider: a payer "pays" by appending a transaction; a test scripts failures and timing.

``MemoryBackOffice`` is the ProviderFactory handed to ``running_gateway(settings, provider_factory=...)``;
it builds one ``MemoryProvider`` per account and records what the scheduler did with each.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict, deque
from datetime import UTC, datetime

from agent.db import now_ms
from agent.providers.base import (
    AccountCredentials,
    Channel,
    Health,
    HealthState,
    ProviderError,
    ProviderTransaction,
)

_trade_numbers = itertools.count(1)


def transaction(
    amount_fen: int, paid_at_ms: int, *, terminal_id: str | None = "T1", channel: Channel = Channel.ALIPAY,
    trade_no: str | None = None,
) -> ProviderTransaction:
    """A successful payment as a provider reports it (a fresh trade no unless one is given)."""
    return ProviderTransaction(
        trade_no=trade_no or f"PX{next(_trade_numbers):08d}",
        amount_fen=amount_fen,
        channel=channel,
        paid_at=datetime.fromtimestamp(paid_at_ms / 1000, UTC),
        terminal_id=terminal_id,
        raw={"amount": amount_fen, "terminal": terminal_id, "channel": channel.value},
    )


class MemoryBackOffice:
    """The payments of every account, plus scripted failures; callable as a ProviderFactory."""

    def __init__(self, *, min_poll_interval: float | None = None, fetch_delay: float = 0.0) -> None:
        self.min_poll_interval = min_poll_interval
        self.fetch_delay = fetch_delay
        self.ledgers: dict[int, list[ProviderTransaction]] = defaultdict(list)
        self.login_failures: dict[int, deque[ProviderError]] = defaultdict(deque)
        self.fetch_failures: dict[int, deque[ProviderError]] = defaultdict(deque)
        self.created: Counter[int] = Counter()
        self.logins: Counter[int] = Counter()
        self.fetches: Counter[int] = Counter()
        self.windows: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        self.fetch_started: dict[int, list[float]] = defaultdict(list)
        self.in_flight: Counter[int] = Counter()
        self.most_in_flight: Counter[int] = Counter()
        self.passwords: dict[int, str] = {}
        self.built_with: dict[int, list[AccountCredentials]] = defaultdict(list)  # each provider's credentials

    def __call__(self, account: AccountCredentials) -> MemoryProvider:
        self.created[account.account_id] += 1
        self.passwords[account.account_id] = account.password
        self.built_with[account.account_id].append(account)
        return MemoryProvider(self, account.account_id)

    def pay(
        self, account_id: int, amount_fen: int, *, paid_at_ms: int | None = None, terminal_id: str | None = "T1",
        channel: Channel = Channel.ALIPAY, trade_no: str | None = None,
    ) -> ProviderTransaction:
        """A payer pays ``amount_fen`` into the account now (or at ``paid_at_ms``)."""
        at = now_ms() if paid_at_ms is None else paid_at_ms
        tx = transaction(amount_fen, at, terminal_id=terminal_id, channel=channel, trade_no=trade_no)
        self.ledgers[account_id].append(tx)
        return tx

    def fail_login(self, account_id: int, *errors: ProviderError) -> None:
        self.login_failures[account_id].extend(errors)

    def fail_fetch(self, account_id: int, *errors: ProviderError) -> None:
        self.fetch_failures[account_id].extend(errors)


class MemoryProvider:
    """One account of the memory back office, implementing the Provider protocol."""

    def __init__(self, office: MemoryBackOffice, account_id: int) -> None:
        self._office = office
        self._account_id = account_id
        self._health = Health(HealthState.OK)
        if office.min_poll_interval is not None:
            self.min_poll_interval = office.min_poll_interval

    async def login(self) -> None:
        self._office.logins[self._account_id] += 1
        self._raise_scripted(self._office.login_failures[self._account_id])

    async def fetch_transactions(self, since: datetime, until: datetime) -> list[ProviderTransaction]:
        office, account_id = self._office, self._account_id
        office.fetches[account_id] += 1
        office.windows[account_id].append((since, until))
        office.fetch_started[account_id].append(asyncio.get_running_loop().time())
        office.in_flight[account_id] += 1
        office.most_in_flight[account_id] = max(office.most_in_flight[account_id], office.in_flight[account_id])
        try:
            await asyncio.sleep(office.fetch_delay)
            self._raise_scripted(office.fetch_failures[account_id])
        finally:
            office.in_flight[account_id] -= 1
        return [tx for tx in office.ledgers[account_id] if since <= tx.paid_at <= until]

    def health(self) -> Health:
        return self._health

    def _raise_scripted(self, failures: deque[ProviderError]) -> None:
        if failures:
            error = failures.popleft()
            self._health = Health(HealthState.DEGRADED, str(error))
            raise error
        self._health = Health(HealthState.OK)
