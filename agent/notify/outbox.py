"""The notify outbox: one ``notify_jobs`` row per paid order, claimed with a lease, finished with an attempt row.

Jobs are rows, so they survive restarts; a lease (``lease_until``) hands a due job to one sender, and a
sender that dies mid-send simply lets the lease run out so the job is sent again: at least once, never lost.
The lease value doubles as the claim's token: a finish whose token no longer matches (the job was
re-queued meanwhile) records its attempt but leaves the job to the newer claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import aiosqlite

from agent.audit import write_audit
from agent.db import Database, now_ms
from agent.db.rows import record, records
from agent.errors import OrderStateError
from agent.labels import ORDER_STATUS
from agent.orders import OrderStatus, get_order


class JobStatus(StrEnum):
    """Where a notify job is: the ``notify_jobs.status`` this module alone writes."""

    PENDING = "pending"  # due now or after its next delay
    ACKED = "acked"  # the merchant answered "success": done
    FAILED = "failed"  # every attempt of the schedule made: waits for a person (重发通知)


class Outcome(StrEnum):
    ACKED = "acked"  # the merchant answered "success"
    REJECTED = "rejected"  # the merchant answered something else
    ERROR = "error"  # no answer: connection failure, timeout, bad URL


@dataclass(frozen=True, slots=True)
class Claim:
    trade_no: str
    attempts: int  # attempts made before this one
    lease_until: int


@dataclass(frozen=True, slots=True)
class Attempt:
    url: str
    outcome: Outcome
    http_status: int | None
    body_excerpt: str
    duration_ms: int
    error: str | None = None

    def problem(self) -> str | None:
        if self.outcome is Outcome.ACKED:
            return None
        if self.error is not None:
            return self.error
        return f"HTTP {self.http_status}: {self.body_excerpt}"


async def queue_notify(conn: aiosqlite.Connection, trade_no: str, now: int) -> None:
    """The notify job of an order just confirmed, due now; inside the confirming transaction, so a paid order
    always gets a notify and a notify never goes out for an unpaid order."""
    await conn.execute(
        "INSERT INTO notify_jobs (trade_no, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (trade_no, now, now, now),
    )


async def claim_due(db: Database, limit: int, lease_ms: int) -> list[Claim]:
    """Lease up to ``limit`` pending jobs whose time has come, oldest first."""
    now = now_ms()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE notify_jobs SET lease_until = ?, updated_at = ? WHERE trade_no IN ("
            " SELECT trade_no FROM notify_jobs WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ?"
            " ORDER BY next_attempt_at LIMIT ?) RETURNING trade_no, attempts, lease_until",
            (now + lease_ms, now, now, now, limit),
        )
        rows = await cursor.fetchall()
    return [Claim(row[0], row[1], row[2]) for row in rows]


async def finish(db: Database, claim: Claim, attempt: Attempt, schedule: Sequence[int]) -> JobStatus:
    """Record the attempt and move the job on: acked, retried after the next delay, or failed after the last;
    returns the job's new status."""
    now = now_ms()
    made = claim.attempts + 1
    if attempt.outcome is Outcome.ACKED:
        status, next_at = JobStatus.ACKED, now
    elif made > len(schedule):
        status, next_at = JobStatus.FAILED, now
    else:
        status, next_at = JobStatus.PENDING, now + schedule[made - 1] * 1000
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO notify_attempts (trade_no, attempted_at, url, http_status, body_excerpt, outcome, "
            "duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (claim.trade_no, now - attempt.duration_ms, attempt.url, attempt.http_status, attempt.body_excerpt,
             attempt.outcome.value, attempt.duration_ms),
        )
        await conn.execute(
            "UPDATE notify_jobs SET status = ?, attempts = ?, next_attempt_at = ?, lease_until = 0, "
            "last_error = ?, updated_at = ? WHERE trade_no = ? AND lease_until = ?",
            (status, made, next_at, attempt.problem(), now, claim.trade_no, claim.lease_until),
        )
    return status


async def release(db: Database, claims: Sequence[Claim]) -> None:
    """Give back leases of sends cut short by a clean shutdown, so the next start sends them at once."""
    if not claims:
        return
    async with db.transaction() as conn:
        await conn.executemany(
            "UPDATE notify_jobs SET lease_until = 0 WHERE trade_no = ? AND lease_until = ?",
            [(c.trade_no, c.lease_until) for c in claims],
        )


async def requeue(db: Database, trade_no: str, *, actor: str) -> None:
    """Manual resend: make a paid order's notify due now with a fresh schedule, whatever its job's state.

    Works from any process (the CLI writes, the server's worker picks it up within a second). Audited.
    Raises OrderStateError unless the order is paid.
    """
    order = await get_order(db, trade_no)
    if order is None or order.status is not OrderStatus.PAID:
        if order is None:
            raise OrderStateError(f"订单 {trade_no} 不存在")
        raise OrderStateError(f"订单 {trade_no} 当前为{ORDER_STATUS[order.status]}，只有已支付的订单会发送通知")
    now = now_ms()
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO notify_jobs (trade_no, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (trade_no) DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "lease_until = 0, updated_at = ?",
            (trade_no, now, now, now, now, now),
        )
        await write_audit(conn, actor, "notify.resend", trade_no, {})


async def next_due(db: Database) -> int | None:
    """When the earliest pending job becomes claimable (epoch ms), or None when nothing is pending."""
    value = await db.fetchval(
        "SELECT min(max(next_attempt_at, lease_until)) FROM notify_jobs WHERE status = 'pending'"
    )
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class NotifyJob:
    status: str  # a JobStatus value
    attempts: int
    next_attempt_at: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SentAttempt:
    """One notify attempt as recorded."""

    attempted_at: int
    url: str
    http_status: int | None
    body_excerpt: str
    outcome: str
    duration_ms: int


async def notify_job(db: Database, trade_no: str) -> NotifyJob | None:
    row = await db.fetchone(
        "SELECT status, attempts, next_attempt_at, last_error FROM notify_jobs WHERE trade_no = ?", (trade_no,)
    )
    return None if row is None else record(NotifyJob, row)


async def attempts_of(db: Database, trade_no: str) -> list[SentAttempt]:
    """The order's notify attempts, oldest first."""
    rows = await db.fetchall(
        "SELECT attempted_at, url, http_status, body_excerpt, outcome, duration_ms FROM notify_attempts "
        "WHERE trade_no = ? ORDER BY attempted_at", (trade_no,),
    )
    return records(SentAttempt, rows)


async def job_counts(db: Database) -> dict[str, int]:
    """Jobs by state: ``pending`` (incl. retrying), ``retrying`` (failed at least once), ``failed``."""
    row = await db.fetchone(
        "SELECT coalesce(sum(status = 'pending'), 0) AS pending, "
        "coalesce(sum(status = 'pending' AND attempts > 0), 0) AS retrying, "
        "coalesce(sum(status = 'failed'), 0) AS failed FROM notify_jobs"
    )
    assert row is not None
    return {"pending": row["pending"], "retrying": row["retrying"], "failed": row["failed"]}
