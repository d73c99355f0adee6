"""Turn a provider's record (as its API or table shows it) into a normalized ProviderTransaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from agent.money import MoneyError, yuan_from_decimal
from agent.profiles.model import Fields
from agent.profiles.template import dig
from agent.providers.base import LayoutChanged, ProviderTransaction

log = structlog.get_logger(__name__)


def _field(record: Mapping[str, Any], path: str, name: str) -> Any:
    try:
        return dig(record, path)
    except KeyError:
        raise LayoutChanged(f"transactions.fields.{name}", f"record has no {path!r} (keys: {', '.join(record)})") from None


def _amount_fen(value: Any, unit: str) -> int:
    text = str(value).strip().replace(",", "")
    if unit == "yuan":
        return yuan_from_decimal(Decimal(text))
    amount = Decimal(text)
    if amount != amount.to_integral_value():
        raise MoneyError(f"fen amount {value!r} is fractional")
    return int(amount)


def _paid_at(value: Any, fmt: str, zone: tzinfo) -> datetime:
    if fmt in ("ms", "s"):
        seconds = Decimal(str(value)) / (1000 if fmt == "ms" else 1)
        return datetime.fromtimestamp(float(seconds), UTC)
    return datetime.strptime(str(value).strip(), fmt).replace(tzinfo=zone)


def normalize(record: Mapping[str, Any], fields: Fields, zone: tzinfo) -> ProviderTransaction | None:
    """The record as a ProviderTransaction; None (logged) for a channel the profile does not map.

    Raises LayoutChanged when a mapped field is missing or no longer parses: the profile needs repair.
    """
    trade_no = str(_field(record, fields.trade_no, "trade_no")).strip()
    raw_amount = _field(record, fields.amount.path, "amount")
    raw_channel = str(_field(record, fields.channel.path, "channel")).strip()
    raw_time = _field(record, fields.paid_at.path, "paid_at")
    terminal = None
    if fields.terminal_id is not None:
        value = _field(record, fields.terminal_id, "terminal_id")
        terminal = None if value is None else (str(value).strip() or None)
    channel = fields.channel.map.get(raw_channel)
    if channel is None:
        log.warning("unmapped_channel", trade_no=trade_no, channel_code=raw_channel)
        return None
    try:
        amount = _amount_fen(raw_amount, fields.amount.unit)
    except (InvalidOperation, MoneyError) as exc:
        raise LayoutChanged("transactions.fields.amount", f"{raw_amount!r} is not a {fields.amount.unit} amount") from exc
    try:
        paid_at = _paid_at(raw_time, fields.paid_at.format, zone)
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise LayoutChanged("transactions.fields.paid_at", f"{raw_time!r} does not match {fields.paid_at.format!r}") from exc
    if not trade_no or amount <= 0:
        raise LayoutChanged("transactions.fields", f"record without trade no or positive amount: {trade_no!r}")
    return ProviderTransaction(trade_no, amount, channel, paid_at, terminal, raw=dict(record))
