"""Timestamped signed requests (epay V2 rules) and the platform-signed answers they get.

A request signed with ``sign_type=RSA`` (any endpoint that takes it), and an ``api.php`` query signed instead
of carrying the plain key, must carry a 10-digit Unix ``timestamp`` within ``TIMESTAMP_WINDOW_SECONDS`` of our
clock, a signature by the merchant (RSA: its registered public key verifies it; MD5: its key), and a
signature never accepted before (agent/seen_signatures.py). Checks come first and write nothing; the claim of
the signature is the accepted request's first write, and it is given back if the request is refused after all.

Answers to RSA requests (and the notifies and returns of RSA orders) are signed with the platform private key
(agent/platform_key.py), with their own ``timestamp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from agent import epay, epay_rsa
from agent.db import Database
from agent.intake.errors import STORAGE_REFUSAL, IntakeError, Reason, RetryLater
from agent.intake.fields import CreateRules, order_draft, parse_pid
from agent.intake.service import IntakeService
from agent.merchants import Merchant
from agent.orders import Order
from agent.platform_key import PlatformKey
from agent.seen_signatures import ReplayGuard

log = structlog.get_logger(__name__)

TIMESTAMP_WINDOW_SECONDS = 300
RSA = epay_rsa.SIGN_TYPE
MD5 = "MD5"
_TIMESTAMP = re.compile(r"[0-9]{10}")


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose merchant, timestamp and signature checked out (nothing written yet)."""

    merchant: Merchant
    sign_type: str
    digest: bytes  # what the replay guard stores for this signature
    expires_at_ms: int  # when the timestamp leaves the window: the claim is not needed after that


def check_timestamp(params: Mapping[str, str], now_s: float) -> int:
    raw = params.get("timestamp", "")
    if not raw:
        raise IntakeError("缺少参数 timestamp（10 位 Unix 时间戳，单位秒）", Reason.BAD_SIGN)
    if not _TIMESTAMP.fullmatch(raw):
        raise IntakeError("时间戳(timestamp)格式错误，应为 10 位 Unix 时间戳（秒）", Reason.BAD_SIGN)
    timestamp = int(raw)
    if abs(now_s - timestamp) > TIMESTAMP_WINDOW_SECONDS:
        raise IntakeError(
            f"时间戳(timestamp)与服务器时间相差超过 {TIMESTAMP_WINDOW_SECONDS} 秒，请校准服务器时间后重新签名",
            Reason.BAD_SIGN,
        )
    return timestamp


class SignedRequests:
    """Verifies timestamped requests, claims their signatures, and signs answers with the platform key."""

    def __init__(self, db: Database, intake: IntakeService, platform: PlatformKey) -> None:
        self._db = db
        self._intake = intake
        self._platform = platform
        self.replay = ReplayGuard(db)

    async def verify(self, params: Mapping[str, str], *, sign_types: tuple[str, ...], default: str) -> Verified:
        """The merchant that signed ``params`` within the time window; raises IntakeError otherwise."""
        merchant = await self._intake.merchant(parse_pid(dict(params)))
        if not merchant.enabled:
            raise IntakeError("商户已被禁用", Reason.MERCHANT_DISABLED)
        if not params.get("sign"):
            raise IntakeError("缺少签名参数 sign", Reason.BAD_SIGN)
        sign_type = (params.get("sign_type") or default).upper()
        if sign_type not in sign_types:
            raise IntakeError(f"不支持的签名类型(sign_type)，可选：{'、'.join(sign_types)}", Reason.BAD_SIGN)
        timestamp = check_timestamp(params, time.time())
        if sign_type == RSA:
            if merchant.rsa_key is None:
                raise IntakeError(
                    "商户未登记 RSA 公钥，无法验证 RSA 签名：请在管理后台「商户」页或用 mapay merchant set-rsa-key "
                    "登记商户公钥，或改用 MD5 签名", Reason.BAD_SIGN,
                )
            await self.platform_key()  # answers will need it: refuse now (try later) rather than after a write
            valid = epay_rsa.verify(params, merchant.rsa_key)
        else:
            valid = epay.verify(params, merchant.key)
        if not valid:
            raise IntakeError("签名错误", Reason.BAD_SIGN)
        digest = hashlib.sha256(
            f"{merchant.pid}\n{sign_type}\n{epay.canonical_string(params)}".encode()
        ).digest()[:16]
        return Verified(merchant, sign_type, digest, (timestamp + TIMESTAMP_WINDOW_SECONDS + 1) * 1000)

    async def claim(self, verified: Verified) -> None:
        """Record the signature as used; a replay (claimed before, by any process) is refused."""
        if not await self.replay.claim(verified.digest, verified.expires_at_ms):
            raise IntakeError("重复的请求：该签名已被使用过，请用新的 timestamp 重新签名后提交", Reason.BAD_SIGN)

    @contextlib.asynccontextmanager
    async def claimed(self, verified: Verified) -> AsyncIterator[None]:
        """Claim the signature for the duration of the block; give it back when the block refuses the request."""
        await self.claim(verified)
        try:
            yield
        except BaseException:
            try:
                await self.replay.release(verified.digest)
            except Exception as exc:  # the refusal is what the merchant must hear about
                log.warning("signature_release_failed", error=repr(exc))
            raise

    async def create(self, params: dict[str, str], rules: CreateRules, *, default: str = RSA) -> Order:
        """Place (or re-use) the order of a timestamped create request; the order keeps the request's sign type."""
        verified = await self.verify(params, sign_types=(RSA,), default=default)
        draft = replace(order_draft(params, verified.merchant.pid, rules), sign_type=verified.sign_type)
        async with self.claimed(verified):
            order, _ = await self._intake.place(draft)
        return order

    async def platform_key(self) -> rsa.RSAPrivateKey:
        try:
            return await self._platform.private_key()
        except Exception as exc:
            if self._db.storage.mark_failed(exc):
                raise RetryLater(STORAGE_REFUSAL.format(message=self._db.storage.message or "存储暂时不可写入")) from exc
            raise

    async def answer(self, sign_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as sent: signed with the platform private key (with a timestamp) for RSA, unchanged for MD5."""
        if sign_type != RSA:
            return body
        key = await self.platform_key()
        # An RSA signature is a quarter of a millisecond of OpenSSL work that releases the GIL: on a thread
        # it runs on another core while the event loop serves the next request.
        work = functools.partial(epay_rsa.signed, body, key, int(time.time()), keep_empty=True)
        return await asyncio.get_running_loop().run_in_executor(None, work)


SIGNED = web.AppKey("signed_requests", SignedRequests)


def is_rsa(params: Mapping[str, str]) -> bool:
    return params.get("sign_type", "").upper() == RSA
