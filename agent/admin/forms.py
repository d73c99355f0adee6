"""Field checks shared by the admin forms: each returns the clean value or raises FieldError."""

from __future__ import annotations

from agent.accounts import checked_base_url
from agent.money import MoneyError, parse_yuan
from agent.web.requests import BadRequest, parse_id


class FieldError(ValueError):
    """Bad input for one field; the message is shown right under that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def required(field: str, value: str, label: str, max_length: int = 128) -> str:
    if not value:
        raise FieldError(field, f"请填写{label}")
    return at_most(field, value, label, max_length)


def at_most(field: str, value: str, label: str, max_length: int) -> str:
    if len(value) > max_length:
        raise FieldError(field, f"{label}最多 {max_length} 个字符")
    return value


def optional_url(field: str, value: str) -> str | None:
    if not value:
        return None
    try:
        return checked_base_url(value)
    except ValueError as exc:
        raise FieldError(field, "请输入以 http:// 或 https:// 开头的完整地址") from exc


def optional_yuan(field: str, value: str) -> int | None:
    if not value:
        return None
    try:
        return parse_yuan(value)
    except MoneyError as exc:
        raise FieldError(field, str(exc)) from exc


def int_id(field: str, value: str, label: str) -> int:
    """A row id chosen in a select; anything but ASCII digits within SQLite's range was not one of ours."""
    try:
        return parse_id(value, field=field)
    except BadRequest as exc:
        raise FieldError(field, f"请选择{label}") from exc
