"""Key formats a merchant may paste, and the replay store's expiry."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent import epay_rsa
from agent.db import Database, now_ms
from agent.seen_signatures import PRUNE_EVERY_MS, ReplayGuard

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BODY = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def _pem(fmt: serialization.PublicFormat) -> str:
    return KEY.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode()


@pytest.mark.parametrize(
    "text",
    [
        BODY,
        f"  {BODY}\n",
        _pem(serialization.PublicFormat.SubjectPublicKeyInfo),
        _pem(serialization.PublicFormat.PKCS1),  # -----BEGIN RSA PUBLIC KEY-----
        _pem(serialization.PublicFormat.SubjectPublicKeyInfo).replace("\n", "\r\n"),
    ],
)
def test_every_usual_form_of_a_public_key_is_one_bare_body(text: str) -> None:
    assert epay_rsa.public_key_body(epay_rsa.load_public_key(text)) == BODY


def test_a_short_key_is_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(epay_rsa.KeyFormatError, match="2048"):
        epay_rsa.load_public_key(epay_rsa.public_key_body(short))


def test_signatures_round_trip_and_a_query_string_plus_turned_space_still_verifies() -> None:
    params = {"pid": "1", "money": "1.00", "name": "商品", "param": "", "timestamp": "1767225600"}
    signed = {k: str(v) for k, v in epay_rsa.signed(params, KEY, 1767225600).items()}
    assert "param" not in signed and epay_rsa.verify(signed, KEY.public_key())
    assert epay_rsa.verify(signed | {"sign": signed["sign"].replace("+", " ")}, KEY.public_key())
    assert not epay_rsa.verify(signed | {"money": "1.01"}, KEY.public_key())
    assert not epay_rsa.verify(signed | {"sign": "AAAA"}, KEY.public_key())


async def test_a_claim_is_refused_twice_and_expired_claims_are_pruned(tmp_path: Path) -> None:
    async with Database(tmp_path / "db.sqlite3") as db:
        guard = ReplayGuard(db)
        now = now_ms()
        assert await guard.claim(b"a" * 16, now + 60_000)
        assert not await guard.claim(b"a" * 16, now + 60_000)
        assert await guard.claim(b"b" * 16, now - 1)  # already past its window (kept until the next prune)
        assert await guard.claim(b"b" * 16, now + 60_000)  # an expired claim does not stand in the way
        async with db.transaction() as conn:
            await conn.execute("UPDATE seen_signatures SET expires_at = 0 WHERE digest = ?", (b"b" * 16,))
        guard._next_prune = 0  # the next batch prunes (at most once every PRUNE_EVERY_MS)
        assert PRUNE_EVERY_MS >= 1000
        assert await guard.claim(b"c" * 16, now + 60_000)
        digests = [row[0] for row in await db.fetchall("SELECT digest FROM seen_signatures ORDER BY digest")]
        assert digests == [b"a" * 16, b"c" * 16]
        await guard.release(b"c" * 16)
        assert await guard.claim(b"c" * 16, now + 60_000)


@pytest.mark.parametrize(("path", "kind"), [("/api/pay/create", "application/json"), ("/api/pay/submit", "text/html")])
def test_v2_creates_are_refused_while_draining_in_their_shape(path: str, kind: str) -> None:
    from aiohttp.test_utils import make_mocked_request

    from agent.ops.drain import draining_response

    response = draining_response(make_mocked_request("POST", path))
    assert response is not None and response.status == 503 and response.content_type == kind
    assert response.headers["Retry-After"] == "30"
    assert draining_response(make_mocked_request("POST", "/api/pay/query")) is None  # queries are still served
