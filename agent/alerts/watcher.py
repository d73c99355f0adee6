"""The alert watcher: reads the database every few seconds and raises what the owner must act on.

Conditions are derived from rows, not reported by the code that changes them, so they are seen whichever
process wrote them (the server's poller, the CLI, the admin console) and that code needs no alert calls.
Every alert is keyed by its condition (``account:3:needs_human``, ``notify:T...``), so raising it again
each round is cheap: the :class:`Alerter` sends it once and resolves it when the watcher says it cleared.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator

import structlog

from agent.alerts import messages
from agent.alerts.alerter import Alerter
from agent.alerts.messages import AccountFacts, Alert, UnackedNotify, UnmatchedPayment
from agent.db import Database, now_ms
from agent.db.storage import StorageUnavailable
from agent.orders import queries
from agent.recurring import RecurringTask
from agent.settings import Settings

log = structlog.get_logger(__name__)

PROBLEMS = ("needs_human", "login_failed", "degraded")
NOTIFY_GROUP_OVER = 5  # more stale notifies than this become one grouped alert
UNMATCHED_SETTLE_MS = 5_000  # a payment is recorded a moment before the matcher runs: let it match first
UNMATCHED_FIRST_LOOKBACK_MS = 86_400_000  # first run: still-unmatched payments of the last day are reported

# When an account started failing. ``health_at`` moves whenever health or reason changes; a dedicated
# "failing since" column would be better, and replacing this expression is all it takes.
_FAILING_SINCE = "coalesce(a.failing_since, a.health_at)"

_ACCOUNTS_SQL = (
    f"SELECT a.id, a.name, a.health, a.health_reason, {_FAILING_SINCE} AS since, p.name AS platform, "
    "a.failure_class "
    "FROM accounts a JOIN platforms p ON p.id = a.platform_id WHERE a.enabled = 1 ORDER BY a.id"
)

_UNMATCHED_CURSOR = "unmatched_seen_at"


def _down_mark(account_id: int) -> str:
    """An account reported failing owes the owner an "已恢复" once it works again."""
    return f"account_down:{account_id}"


class AlertWatcher:
    """Looks at the database every ``alert_check_seconds`` and hands the conditions it finds to the Alerter."""

    def __init__(self, db: Database, alerter: Alerter, settings: Settings) -> None:
        self._db = db
        self._alerter = alerter
        self._settings = settings
        self._base_url = settings.base_url

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = RecurringTask(self._step, self._settings.alert_check_seconds, name="alert-watcher")
        async with task.running():
            yield

    async def _step(self) -> None:
        try:
            await self.check()
        except (sqlite3.Error, StorageUnavailable) as exc:  # a busy or failing database: look again later
            log.warning("alert_check_failed", error=str(exc))
        except Exception:
            log.exception("alert_check_crashed")

    async def check(self) -> None:
        """One look at every condition."""
        now = now_ms()
        marks = {row[0]: row[1] for row in await self._db.fetchall("SELECT name, value FROM alert_marks")}
        await self._check_accounts(now, marks)
        await self._check_notifies(now)
        await self._check_unmatched(now, marks)

    # --- accounts ---------------------------------------------------------------------------------

    async def _check_accounts(self, now: int, marks: dict[str, int]) -> None:
        degraded_after_ms = int(self._settings.alert_degraded_after_seconds * 1000)
        for row in await self._db.fetchall(_ACCOUNTS_SQL):
            account = AccountFacts(
                row["id"], row["name"], row["platform"], row["health"], row["health_reason"], row["since"],
                row["failure_class"],
            )
            for health in PROBLEMS:  # a state left behind may alert again when it comes back
                if health != account.health:
                    self._alerter.resolve(messages.account_key(account.id, health))
            alert = self._account_alert(account, now, degraded_after_ms)
            down = _down_mark(account.id)
            if alert is not None:
                self._alerter.submit(alert)
                if down not in marks:
                    await self._set_mark(down, now)
            elif account.health == "ok" and down in marks:
                recovered = messages.recovered(account)
                self._alerter.submit(recovered)
                self._alerter.resolve(recovered.key)  # each recovery is news, never a repeat
                await self._drop_mark(down)

    def _account_alert(self, account: AccountFacts, now: int, degraded_after_ms: int) -> Alert | None:
        if account.health == "needs_human":
            return messages.needs_human(account, self._base_url)
        if account.health == "login_failed":
            return messages.login_failed(account, self._base_url)
        if account.health == "degraded" and now - (account.since_ms or now) >= degraded_after_ms:
            return messages.degraded(account, self._base_url, now)
        return None

    # --- notifies ---------------------------------------------------------------------------------

    async def _check_notifies(self, now: int) -> None:
        cutoff = now - int(self._settings.alert_notify_unacked_minutes * 60_000)
        stale = [
            UnackedNotify(row["trade_no"], row["pid"], row["merchant"], row["out_trade_no"], row["money_fen"],
                          row["attempts"], row["last_error"], row["created_at"])
            for row in await queries.stale_notifies(self._db, cutoff)
        ]
        still = {messages.notify_key(job.trade_no) for job in stale}
        for key in self._alerter.active_keys("notify:"):
            if key not in still and key != messages.NOTIFY_GROUP_KEY:
                self._alerter.resolve(key)
        if len(stale) > NOTIFY_GROUP_OVER:
            self._alerter.submit(messages.unacked_notifies(stale, self._base_url))
            return
        self._alerter.resolve(messages.NOTIFY_GROUP_KEY)
        for job in stale:
            self._alerter.submit(messages.unacked_notify(job, self._base_url, now))

    # --- unmatched payments -----------------------------------------------------------------------

    async def _check_unmatched(self, now: int, marks: dict[str, int]) -> None:
        """Payments recorded since the last look that no order claimed (after the matcher had its turn)."""
        since = marks.get(_UNMATCHED_CURSOR, now - UNMATCHED_FIRST_LOOKBACK_MS)
        upto = now - UNMATCHED_SETTLE_MS
        if upto <= since:
            return
        rows = await queries.unmatched_seen(self._db, since, upto)
        for row in rows:
            payment = UnmatchedPayment(
                row["id"], row["account"], row["platform"], row["provider_trade_no"], row["amount_fen"],
                row["channel"], row["paid_at"], row["duplicate_of"], row["duplicate_status"],
            )
            self._alerter.submit(messages.unmatched_payment(payment, self._base_url))
        if rows or _UNMATCHED_CURSOR not in marks:  # an idle round costs no write transaction
            await self._set_mark(_UNMATCHED_CURSOR, upto)

    # --- marks ------------------------------------------------------------------------------------

    async def _set_mark(self, name: str, value: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO alert_marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    async def _drop_mark(self, name: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM alert_marks WHERE name = ?", (name,))
