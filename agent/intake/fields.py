"""Validation of the epay create fields into an OrderDraft; every refusal has a Chinese message."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit

from agent.allocation import OrderDraft
from agent.intake.errors import IntakeError
from agent.money import MoneyError, parse_yuan
from agent.providers.base import Channel
from agent.web.requests import BadRequest, parse_id

PAY_TYPES = frozenset(channel.value for channel in Channel)
NAME_MAX_BYTES = 127
_OUT_TRADE_NO = re.compile(r"[a-zA-Z0-9._\-|]{1,64}")
PID_MAX = 9_999_999_999  # ten digits, as epay clients store it
_DEVICE = re.compile(r"[a-z0-9_]{1,16}")
_URL_MAX = 1024
_BLANK = re.compile(r"[\s\x00-\x1f]")
_LIMITS = {"param": 1024, "sitename": 64, "clientip": 64}
_KEY_SHOWN = 32


@dataclass(frozen=True, slots=True)
class CreateRules:
    """Which optional epay fields an endpoint requires (submit.php and mapi.php differ)."""

    type_required: bool
    return_url_required: bool
    clientip_required: bool


SUBMIT = CreateRules(type_required=False, return_url_required=True, clientip_required=False)
MAPI = CreateRules(type_required=True, return_url_required=False, clientip_required=True)
NATIVE = CreateRules(type_required=False, return_url_required=False, clientip_required=False)


def flat_params(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """One string per key; a repeated key or a file upload is refused (the signature would be ambiguous)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(value, str):
            raise IntakeError(f"参数 {key[:_KEY_SHOWN]} 格式错误")
        if key in params:
            raise IntakeError(f"参数 {key[:_KEY_SHOWN]} 重复")
        params[key] = value
    return params


def parse_pid(params: dict[str, str]) -> int:
    raw = params.get("pid", "")
    if not raw:
        raise IntakeError("缺少参数 pid")
    try:
        return parse_id(raw, field="pid", max_value=PID_MAX)
    except BadRequest as exc:
        raise IntakeError("商户ID(pid)格式错误") from exc


def cut_name(name: str) -> str:
    """Cut to 127 UTF-8 bytes without splitting a character, as epay does."""
    return name.encode()[:NAME_MAX_BYTES].decode("utf-8", "ignore")


def order_draft(params: dict[str, str], pid: int, rules: CreateRules) -> OrderDraft:
    """Check every create field; the signature has been verified before."""
    out_trade_no = _required(params, "out_trade_no")
    if not _OUT_TRADE_NO.fullmatch(out_trade_no):
        raise IntakeError("商户订单号(out_trade_no)只能包含字母、数字和 ._-| ，且不超过64位")
    name = cut_name(_required(params, "name").strip())
    if not name:
        raise IntakeError("商品名称(name)不能为空")
    try:
        money_fen = parse_yuan(_required(params, "money"))
    except MoneyError as exc:
        raise IntakeError(f"金额(money)无效：{exc}") from exc
    clientip = _limited(params, "clientip")
    if rules.clientip_required and not clientip:
        _missing("clientip")
    return OrderDraft(
        pid=pid,
        out_trade_no=out_trade_no,
        type=_pay_type(params, rules.type_required),
        name=name,
        money_fen=money_fen,
        notify_url=_url(params, "notify_url", required=True),
        return_url=_url(params, "return_url", required=rules.return_url_required),
        param=_limited(params, "param"),
        clientip=clientip,
        device=_device(params),
        sitename=_limited(params, "sitename"),
    )


def _missing(field: str) -> NoReturn:
    raise IntakeError(f"缺少参数 {field}")


def _required(params: dict[str, str], field: str) -> str:
    value = params.get(field, "")
    if not value:
        _missing(field)
    return value


def _limited(params: dict[str, str], field: str) -> str:
    value = params.get(field, "")
    if len(value) > _LIMITS[field]:
        raise IntakeError(f"参数 {field} 过长（最多{_LIMITS[field]}个字符）")
    return value


def _pay_type(params: dict[str, str], required: bool) -> str | None:
    value = params.get("type", "")
    if not value:
        if required:
            _missing("type")
        return None
    if value not in PAY_TYPES:
        raise IntakeError(f"不支持的支付方式(type)，可选：{'、'.join(sorted(PAY_TYPES))}")
    return value


def _device(params: dict[str, str]) -> str:
    value = params.get("device", "") or "pc"
    if not _DEVICE.fullmatch(value):
        raise IntakeError("设备类型(device)格式错误")
    return value


def _url(params: dict[str, str], field: str, *, required: bool) -> str:
    value = params.get(field, "")
    if not value:
        if required:
            _missing(field)
        return ""
    if len(value) > _URL_MAX:
        raise IntakeError(f"{field} 过长（最多{_URL_MAX}个字符）")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or _BLANK.search(value):
        raise IntakeError(f"{field} 必须是 http:// 或 https:// 开头的完整网址")
    return value
