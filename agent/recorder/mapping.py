"""Guess the field mapping from recorded records: trade no, amount and unit, channel codes, paid time,
terminal, and a success-status filter. What the records cannot tell becomes a Decision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.recorder.decisions import Decision
from agent.recorder.values import as_time

FIELDS = "transactions.fields"
AMOUNT_WORDS = re.compile(r"amount|amt|money|price|sum|fee|金额|实收", re.I)
AMOUNT_PREFER = (re.compile(r"pa(y|i)ed|paid|actual|real|实收|实付", re.I), re.compile(r"original|trade|tran|order|交易", re.I))
AMOUNT_AVOID = re.compile(r"refund|discount|coupon|settle|fee|charge|退款|优惠|手续费", re.I)
TRADE_PREFER = (re.compile(r"order|trade|tran|单号|流水号", re.I), re.compile(r"no$|sn$|id$|num$|编号|号$", re.I))
TIME_PREFER = (re.compile(r"pay|paid|支付|付款", re.I), re.compile(r"tran|trade|交易|finish|success|ctime", re.I))
CHANNEL_WORDS = re.compile(r"pay.?(way|type|channel|client|mode|method)|channel|way|支付方式|渠道|方式", re.I)
TERMINAL_PREFER = (re.compile(r"terminal|终端", re.I), re.compile(r"device|设备|pos", re.I),
                   re.compile(r"board|码牌|qr", re.I), re.compile(r"sn$|shop|store|门店|term", re.I))
STATUS_WORDS = re.compile(r"status|sts|state|状态", re.I)
CHANNEL_VALUES = (("alipay", re.compile(r"ali|支付宝|zfb", re.I)), ("wxpay", re.compile(r"wx|wechat|weixin|微信", re.I)),
                  ("bank", re.compile(r"union|银联|云闪付|bank|card|quickpass", re.I)))
# Numeric channel code tables known from peers; the draft offers the one that covers the codes seen.
CODE_TABLES: dict[str, dict[str, str]] = {
    "2 alipay / 3 wxpay / 17 bank (收钱吧 payway)": {"2": "alipay", "3": "wxpay", "17": "bank"},
    "1 alipay / 2 wxpay / 3 bank": {"1": "alipay", "2": "wxpay", "3": "bank"},
    "1 wxpay / 2 alipay / 3 bank (付呗 pay_type)": {"1": "wxpay", "2": "alipay", "3": "bank"},
}


@dataclass
class FieldGuess:
    fields: dict[str, Any]
    include: list[dict[str, Any]]
    has_terminal: bool
    decisions: list[Decision]
    notes: list[str]


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for record in records:
        for key, value in flatten(record).items():
            columns.setdefault(key, []).append(value)
    return columns


def _rank(keys: list[str], prefer: tuple[re.Pattern[str], ...]) -> list[str]:
    def score(key: str) -> int:
        return next((i for i, pattern in enumerate(prefer) if pattern.search(key)), len(prefer))
    return sorted(keys, key=lambda k: (score(k), keys.index(k)))


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None and str(v).strip() != ""]


def _is_amount(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or bool(re.fullmatch(r"-?\d+(\.\d{1,2})?", str(value).replace(",", "")))


def _pick(candidates: list[str], prefer: tuple[re.Pattern[str], ...], what: str, path: str,
          decisions: list[Decision], notes: list[str]) -> str | None:
    if not candidates:
        return None
    ranked = _rank(candidates, prefer)
    if len(ranked) > 1:
        def tier(key: str) -> int:
            return next((i for i, p in enumerate(prefer) if p.search(key)), len(prefer))
        if tier(ranked[0]) == tier(ranked[1]):
            decisions.append(Decision(path, f"{what}: several fields fit ({', '.join(ranked)}); {ranked[0]} guessed",
                                      ranked[0], ranked))
        else:
            notes.append(f"{what}: {ranked[0]} chosen over {', '.join(ranked[1:])}")
    return ranked[0]


def guess_fields(records: list[dict[str, Any]]) -> FieldGuess:
    decisions: list[Decision] = []
    notes: list[str] = []
    columns = _columns(records)
    times = {k: as_time(_present(v)[0], k) for k, v in columns.items() if _present(v)}
    time_keys = [k for k, t in times.items()
                 if t is not None and t.part == "datetime" and all(as_time(x, k) for x in _present(columns[k]))]
    amount_keys = [k for k, v in columns.items() if AMOUNT_WORDS.search(k) and not AMOUNT_AVOID.search(k)
                   and _present(v) and all(_is_amount(x) for x in _present(v)) and k not in time_keys]
    trade_keys = [k for k, v in columns.items() if k not in time_keys and k not in amount_keys
                  and len(_present(v)) == len(records) and len({str(x) for x in v}) == len(v)
                  and all(len(str(x)) >= 10 for x in v)]
    channel_keys = [k for k, v in columns.items() if CHANNEL_WORDS.search(k) and k not in trade_keys
                    and k not in amount_keys and k not in time_keys and 0 < len({str(x) for x in _present(v)}) <= 8]
    terminal_keys = [k for k, v in columns.items() if any(p.search(k) for p in TERMINAL_PREFER)
                     and k not in trade_keys and k not in channel_keys and k not in amount_keys
                     and all(len(str(x)) <= 32 for x in _present(v))]

    fields: dict[str, Any] = {}
    trade = _pick(trade_keys, TRADE_PREFER, "trade no", f"{FIELDS}.trade_no", decisions, notes)
    fields["trade_no"] = trade or _unresolved(decisions, f"{FIELDS}.trade_no", "no field is unique per record", columns)
    amount = _pick(amount_keys, AMOUNT_PREFER, "amount", f"{FIELDS}.amount.path", decisions, notes)
    fields["amount"] = {"path": amount or _unresolved(decisions, f"{FIELDS}.amount.path", "no amount field", columns),
                        "unit": _unit(amount, columns.get(amount or "", []), decisions)}
    ranked_channels = _channel_key(channel_keys, columns)
    recognised = [k for k in ranked_channels if any(channel_of(str(v)) for v in _present(columns[k]))]
    channel = _pick(recognised[:1] or ranked_channels, (), "channel", f"{FIELDS}.channel.path", decisions, notes)
    fields["channel"] = {"path": channel or _unresolved(decisions, f"{FIELDS}.channel.path", "no channel field", columns),
                         "map": _channel_map(_present(columns.get(channel or "", [])), decisions)}
    paid = _pick(time_keys, TIME_PREFER, "paid time", f"{FIELDS}.paid_at.path", decisions, notes)
    fmt = times[paid].spec if paid and times.get(paid) else "%Y-%m-%d %H:%M:%S"  # type: ignore[union-attr]
    fields["paid_at"] = {"path": paid or _unresolved(decisions, f"{FIELDS}.paid_at.path", "no time field", columns),
                         "format": fmt}
    terminal = _pick(terminal_keys, TERMINAL_PREFER, "terminal", f"{FIELDS}.terminal_id", decisions, notes)
    if terminal:
        fields["terminal_id"] = terminal
    else:
        notes.append("no terminal / QR plate field recognised: payments are matched without it")
    include = [{"path": k, "equals": _present(v)[0]} for k, v in columns.items()
               if STATUS_WORDS.search(k) and len(records) > 1 and len(_present(v)) == len(records)
               and len({str(x) for x in v}) == 1]
    return FieldGuess(fields, include, terminal is not None, decisions, notes)


def channel_of(code: str) -> str | None:
    """The channel a code's own text names (ALI, WECHAT, 银联云闪付...), if it names one."""
    return next((channel for channel, pattern in CHANNEL_VALUES if pattern.search(code)), None)


def _channel_key(keys: list[str], columns: dict[str, list[Any]]) -> list[str]:
    """Channel candidates, those whose values name channels first (payType WX/ALI before payMode SCAN)."""
    def named(key: str) -> int:
        return -len({str(v) for v in _present(columns[key]) if channel_of(str(v))})
    return sorted(keys, key=lambda k: (named(k), keys.index(k)))


def _unresolved(decisions: list[Decision], path: str, why: str, columns: dict[str, list[Any]]) -> str:
    keys = list(columns)
    decisions.append(Decision(path, f"{why}: choose one of {', '.join(keys) or '(no records seen)'}",
                              keys[0] if keys else "", keys))
    return keys[0] if keys else "unknown"


def _unit(key: str | None, values: list[Any], decisions: list[Decision]) -> str:
    present = [str(v) for v in _present(values)]
    if key and ("元" in key or any("." in v for v in present)):
        return "yuan"
    decisions.append(Decision(f"{FIELDS}.amount.unit",
                              f"amounts of {key} are whole numbers ({', '.join(present[:3])}...): fen guessed; "
                              "compare with a payment of known amount", "fen", ["fen", "yuan"]))
    return "fen"


def _channel_map(values: list[Any], decisions: list[Decision]) -> dict[str, str]:
    codes = sorted({str(v).strip() for v in values}, key=str)
    by_code = {code: channel for code in codes if (channel := channel_of(code))}
    if codes and len(by_code) == len(codes):
        return by_code

    def covering(name: str) -> int:
        return sum(code in CODE_TABLES[name] for code in codes)

    best = max(CODE_TABLES, key=covering)
    guess = {**CODE_TABLES[best], **by_code} if covering(best) else by_code
    decisions.append(Decision(f"{FIELDS}.channel.map",
                              f"channel codes seen: {', '.join(codes) or 'none'}; guessed table {best!r}: map each "
                              "code to alipay / wxpay / bank", guess, list(CODE_TABLES)))
    return guess
