"""The epay V1 MD5 signature, shared by intake (verify), notify and return (sign)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

UNSIGNED = frozenset({"sign", "sign_type"})


def canonical_string(params: Mapping[str, str]) -> str:
    """Every non-empty parameter except sign/sign_type, sorted by key in byte order, joined raw."""
    items = sorted(
        ((k, v) for k, v in params.items() if k not in UNSIGNED and v != ""),
        key=lambda kv: kv[0].encode(),
    )
    return "&".join(f"{k}={v}" for k, v in items)


def sign(params: Mapping[str, str], key: str) -> str:
    return hashlib.md5((canonical_string(params) + key).encode()).hexdigest()


def verify(params: Mapping[str, str], key: str) -> bool:
    """Constant-time check of ``params['sign']`` against the merchant key."""
    given = params.get("sign", "")
    return hmac.compare_digest(given.lower().encode(), sign(params, key).encode())


def signed(params: Mapping[str, str], key: str) -> dict[str, str]:
    """Params ready to send to a merchant: empty values dropped (epay clients sign them), sign added."""
    out = {k: v for k, v in params.items() if v != "" and k not in UNSIGNED}
    out["sign"] = sign(out, key)
    out["sign_type"] = "MD5"
    return out
