"""A merchant's side of epay V2 (RSA), written from docs/reference alone (epay-v2.md), not from the server's code.

Canonical string: every parameter except ``sign``/``sign_type`` and empty values, sorted by key, joined as
``k=v`` with ``&``, raw values; ``sign = base64(SHA256withRSA(canonical))``; a 10-digit ``timestamp`` with each
request. Answers, notifies and returns are verified with the platform public key (bare base64 SPKI body).
Only ``cryptography``'s primitives are used: nothing from ``agent`` signs or verifies here.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_numbers = itertools.count(1)


def canonical(params: Mapping[str, Any]) -> str:
    """PHP-client style: numbers in decimal, None/empty left out, nested values left out."""
    items = []
    for key, value in params.items():
        if key in ("sign", "sign_type") or value is None or isinstance(value, list | dict):
            continue
        text = str(value)
        if text != "":
            items.append((key, text))
    return "&".join(f"{k}={v}" for k, v in sorted(items))


def wrap_public(body: str) -> rsa.RSAPublicKey:
    """What clients do with a bare base64 key: wrap it in PEM armour, 64 characters a line."""
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def platform_verifies(params: Mapping[str, Any], platform_public: str) -> bool:
    if params.get("sign_type") != "RSA" or not params.get("sign"):
        return False
    try:
        wrap_public(platform_public).verify(
            base64.b64decode(str(params["sign"])), canonical(params).encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


def md5_sign(params: Mapping[str, Any], key: str) -> str:
    return hashlib.md5((canonical(params) + key).encode()).hexdigest()


@dataclass
class V2Merchant:
    """A merchant configured for V2: its pid, its own key pair, the platform public key it was given."""

    pid: int
    private_key: rsa.RSAPrivateKey
    platform_public: str
    md5_key: str = ""

    @classmethod
    def new(cls, pid: int, platform_public: str, md5_key: str = "") -> V2Merchant:
        return cls(pid, rsa.generate_private_key(public_exponent=65537, key_size=2048), platform_public, md5_key)

    @property
    def public_body(self) -> str:
        """The bare base64 body the merchant pastes into the gateway's console."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, params: dict[str, str], *, timestamp: int | None = None) -> dict[str, str]:
        """``params`` with pid, timestamp, sign and sign_type=RSA."""
        out = {"pid": str(self.pid), **params, "timestamp": str(int(time.time()) if timestamp is None else timestamp)}
        signature = self.private_key.sign(canonical(out).encode(), padding.PKCS1v15(), hashes.SHA256())
        return out | {"sign": base64.b64encode(signature).decode(), "sign_type": "RSA"}

    def sign_md5(self, params: dict[str, str], *, timestamp: int | None = None) -> dict[str, str]:
        out = {"pid": str(self.pid), **params, "timestamp": str(int(time.time()) if timestamp is None else timestamp)}
        return out | {"sign": md5_sign(out, self.md5_key), "sign_type": "MD5"}

    def verifies(self, params: Mapping[str, Any]) -> bool:
        return platform_verifies(params, self.platform_public)


def create_fields(**fields: str | None) -> dict[str, str]:
    """Typical /api/pay/create fields with a fresh out_trade_no; ``None`` drops a field."""
    base: dict[str, str | None] = {
        "method": "web",
        "type": "alipay",
        "out_trade_no": f"V{next(_numbers):08d}",
        "notify_url": "http://127.0.0.1:9/notify",
        "return_url": "http://127.0.0.1:9/return",
        "name": "测试商品",
        "money": "10.00",
        "clientip": "127.0.0.1",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


async def post(url: str, data: Mapping[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=dict(data)) as response:
        assert response.status < 500, await response.text()
        return dict(await response.json(content_type=None))


async def get(url: str, params: Mapping[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, params=dict(params)) as response:
        assert response.status < 500, await response.text()
        return dict(await response.json(content_type=None))
