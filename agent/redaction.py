"""Hiding secrets before anything is written: logs, failure snapshots, recorded profiles.

Three ways, one module:

- by key (``redact_data``): in a mapping, recursively, the value of any secret-named key (``password``,
  ``key``, ``sign``, ``token``, ``cookie`` ...) becomes ``***``; every other text has its query-string
  secrets hidden;
- in free text (``redact_query_secrets``): ``key=abc`` / ``sign=...`` / ``password=...`` -> ``key=***``;
- known values (``redact_values``): each given secret (a password and its hashes, a captured token) is
  replaced wherever it appears, longest first, by ``***`` or by its own placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

SECRET_KEYS = frozenset(
    {"password", "pwd", "key", "secret", "token", "cookie", "cookies", "authorization", "sign", "otp",
     "secret_key", "session", "storage_state", "credentials"}
)

# ``name=value`` where the name ends like a secret (key, merchant_key, sign, password, access_token...); the
# value ends where a query value or a quoted/escaped request line does.
_SECRET_PARAMETER = re.compile(
    r"(?i)(?P<name>[a-z0-9_.\-\[\]]*(?:key|sign|password|passwd|pwd|token|secret|otp|csrf|session|cookie))"
    r"(?P<eq>=|%3D)(?P<value>[^&\s'\"\\#;,<>]*)"
)


def redact_query_secrets(text: str) -> str:
    """``GET /api.php?pid=1&key=abc`` -> ``GET /api.php?pid=1&key=***``, anywhere in free text."""
    if "=" not in text and "%3d" not in text.lower():
        return text
    return _SECRET_PARAMETER.sub(lambda m: f"{m['name']}{m['eq']}{MASK}" if m["value"] else m[0], text)


def redact_data(data: Any, keys: frozenset[str] = SECRET_KEYS) -> Any:
    """A copy of ``data`` (mappings, lists and tuples, at any depth) with secret-named values masked and the
    query-string secrets of every text hidden; other values are returned as they are."""
    if isinstance(data, str):
        return redact_query_secrets(data)
    if isinstance(data, Mapping):
        return {
            name: MASK if isinstance(name, str) and name.lower() in keys else redact_data(value, keys)
            for name, value in data.items()
        }
    if type(data) in (list, tuple):  # not a named tuple: its fields are not items to rebuild it from
        return type(data)(redact_data(item, keys) for item in data)
    return data


def redact_values(text: str, secrets: Iterable[str] | Mapping[str, str], *, min_length: int = 1) -> str:
    """``text`` with every known secret replaced, longest first (a token containing another is fully hidden).

    A mapping gives each secret its own placeholder (``{password_md5}``); otherwise each becomes ``***``.
    Secrets shorter than ``min_length`` are left alone (they would blank out ordinary words).
    """
    placeholders = dict(secrets) if isinstance(secrets, Mapping) else dict.fromkeys(secrets, MASK)
    for secret in sorted((s for s in placeholders if len(s) >= min_length), key=len, reverse=True):
        text = text.replace(secret, placeholders[secret])
    return text
