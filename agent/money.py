"""Exact money: amounts are integer fen everywhere inside mapay; yuan strings only at the edges."""

from __future__ import annotations

import re
from decimal import Decimal

_YUAN = re.compile(r"^(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?$")

MAX_FEN = 100_000_000  # one million yuan: anything larger is a typo or an attack, not a QR payment


class MoneyError(ValueError):
    """A money string the epay protocol does not allow."""


def parse_yuan(text: str) -> int:
    """Parse an epay ``money`` string ("12", "12.3", "12.34") into fen; refuse anything else."""
    text = text.strip()
    if not _YUAN.fullmatch(text):
        raise MoneyError("金额格式错误，最多两位小数")
    fen = int(Decimal(text) * 100)
    if fen <= 0:
        raise MoneyError("金额必须大于0")
    if fen > MAX_FEN:
        raise MoneyError("金额过大")
    return fen


def yuan_from_decimal(value: str | int | Decimal) -> int:
    """Provider amount in yuan (string/Decimal, possibly more decimals like "12.340") to fen, exactly."""
    amount = Decimal(str(value)) * 100
    if amount != amount.to_integral_value():
        raise MoneyError(f"amount {value!r} is not a whole number of fen")
    return int(amount)


def format_yuan(fen: int) -> str:
    """Fen to the canonical two-decimal yuan string used in notifies and pages ("12.30")."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
