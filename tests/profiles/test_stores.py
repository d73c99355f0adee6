"""Session state and one-time codes live encrypted in the real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from agent.accounts import AccountBook, classify
from agent.accounts.otp import deliver_otp, take_otp
from agent.accounts.sessions import ProviderSession, SessionState, SessionStore
from agent.crypto import SecretBox
from agent.db import Database, now_ms
from agent.platforms import sync_platforms
from agent.providers.base import HealthState, NeedsHuman


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "db.sqlite3") as database:
        await sync_platforms(database)
        yield database


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


async def test_session_state_round_trips_encrypted(db: Database, box: SecretBox) -> None:
    account = await AccountBook(db, box).add_account("hkrt", "a", "u", "p")
    store = SessionStore(db, box)
    assert await store.load(account.id) is None
    session = ProviderSession()
    session.logged_in([{"name": "HKRT_SESSION", "value": "cookie-secret-value"}], [], {"token": "token-secret-value"},
                      "Mozilla/5.0 HeadlessChrome", expires_at=1_900_000_000_000)
    await store.save(account.id, session)
    raw = await db.fetchval("SELECT session_enc FROM accounts WHERE id = ?", (account.id,))
    assert "secret-value" not in raw
    saved = await store.load(account.id)
    assert saved == session and saved.state is SessionState.LOGGED_IN
    assert saved.storage_state == {"cookies": session.cookies, "origins": []}
    session.expire("the provider said so")
    await store.save(account.id, session)  # only a logged-in session is kept
    assert await store.load(account.id) is None


async def test_a_session_saved_before_the_session_object_still_loads(db: Database, box: SecretBox) -> None:
    account = await AccountBook(db, box).add_account("hkrt", "a", "u", "p")
    old = '{"storage_state": {"cookies": [{"name": "C", "value": "v"}], "origins": []}, "values": {"t": "1"}, ' \
          '"saved_at": 5}'
    async with db.transaction() as conn:
        await conn.execute("UPDATE accounts SET session_enc = ? WHERE id = ?", (box.encrypt(old), account.id))
    saved = await SessionStore(db, box).load(account.id)
    assert saved is not None and saved.usable and saved.values == {"t": "1"} and saved.cookies[0]["value"] == "v"


async def test_a_code_is_taken_once_and_only_when_typed_after_the_sms(db: Database, box: SecretBox) -> None:
    accounts = AccountBook(db, box)
    account = await accounts.add_account("shengpay", "a", "u", "p")
    await accounts.record_failure(account.id, classify(NeedsHuman("waiting for the code")))
    sent = now_ms()
    await deliver_otp(db, box, account.id, " 123456 ")
    assert "123456" not in await db.fetchval("SELECT code_enc FROM account_otps")
    assert (await accounts.account(account.id)).health == HealthState.DEGRADED  # the scheduler tries again
    assert await take_otp(db, box, account.id, sent) == "123456"
    assert await take_otp(db, box, account.id, sent) is None
    await deliver_otp(db, box, account.id, "654321")
    assert await take_otp(db, box, account.id, now_ms() + 1000) is None  # typed before this SMS: stale, dropped
    assert await db.fetchval("SELECT count(*) FROM account_otps") == 0


async def test_bad_codes_and_unknown_accounts_are_refused(db: Database, box: SecretBox) -> None:
    with pytest.raises(ValueError, match="4-8 位字母或数字"):
        await deliver_otp(db, box, 1, "12")
    with pytest.raises(LookupError):
        await deliver_otp(db, box, 99, "123456")
