"""Reading what a client sent: one bounded parser per kind of input, one error for everything unreadable.

Every handler reads its body and its numbers through here, never through ``request.post()``,
``request.json()`` or ``int()``:

- :func:`read_form` reads an urlencoded or multipart body with a size cap, a field cap and strict decoding;
- :func:`read_json` reads a JSON body with a size cap and a nesting cap (checked before decoding, so a body
  nested a thousand deep is refused without recursing);
- :func:`parse_id` / :func:`parse_int` accept ASCII digits only (``str.isdigit`` also accepts ``²`` and
  ``٣``, which ``int()`` or SQLite then choke on) within SQLite's 64-bit integers.

All of them raise :class:`BadRequest`: the client's mistake, with a Chinese message safe to show. Each
surface renders it in its own shape (the epay JSON or page, the native API's error object, the admin's
plain text, the cashier's) and logs it at info level: a malformed request is not a fault of the gateway.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

INT64_MAX = 2**63 - 1
FORM_MAX_BYTES = 256 * 1024  # the app's client_max_size: every epay or admin form is far smaller
FORM_MAX_FIELDS = 200
JSON_MAX_BYTES = 64 * 1024
JSON_MAX_DEPTH = 16
CHUNK_BYTES = 64 * 1024

_ASCII_DIGITS = re.compile(r"[0-9]+")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")
# What aiohttp's multipart reader raises on bytes it cannot make sense of.
_MULTIPART_ERRORS = (ValueError, RuntimeError, TypeError, LookupError, AssertionError, HttpProcessingError)


class BadRequest(Exception):
    """The request cannot be read: malformed body, wrong encoding, a number that is not one.

    ``message`` is Chinese and safe to show; ``field`` names the offending parameter when there is one;
    ``status`` is 400, or 413 for a body over the cap.
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class BodyTooLarge(BadRequest):
    def __init__(self) -> None:
        super().__init__("请求内容过大", status=413)


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Form:
    """A POSTed form: text fields and uploaded files (a file input left empty is no upload)."""

    fields: MultiDict[str] = field(default_factory=MultiDict)
    files: MultiDict[Upload] = field(default_factory=MultiDict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    def pairs(self) -> list[tuple[str, str | Upload]]:
        """Every field and file as (name, value), for callers that refuse files or repeated names."""
        return [*self.fields.items(), *self.files.items()]


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


async def read_form(
    request: web.Request, *, max_bytes: int = FORM_MAX_BYTES, max_fields: int = FORM_MAX_FIELDS
) -> Form:
    """The urlencoded or multipart body as a :class:`Form`; any other content type is an empty form."""
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, max_bytes, max_fields)
    if request.content_type not in ("", "application/x-www-form-urlencoded"):
        return Form()
    text = _decode(await _read_body(request, max_bytes), _charset(request))
    try:
        pairs = parse_qsl(
            text.rstrip(), keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=max_fields
        )
    except UnicodeDecodeError as exc:
        raise BadRequest("请求内容不是有效的 UTF-8 编码") from exc
    except ValueError as exc:  # more than max_fields
        raise BadRequest(f"表单字段过多（最多 {max_fields} 个）") from exc
    form = Form()
    form.fields.extend(pairs)
    return form


async def read_json(request: web.Request, *, max_bytes: int = JSON_MAX_BYTES, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """The body decoded as JSON, at most ``max_bytes`` long and ``max_depth`` arrays/objects deep."""
    text = _decode(await _read_body(request, max_bytes), _charset(request))
    if json_depth(text) > max_depth:
        raise BadRequest(f"JSON 嵌套过深（最多 {max_depth} 层）")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError, an integer of thousands of digits, NaN/Infinity
        raise BadRequest("请求体不是有效的 JSON") from exc


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (strings skipped), without parsing it."""
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_id(text: str, *, field: str = "id", max_value: int = INT64_MAX) -> int:
    """A row id: ASCII digits, 1 to ``max_value`` (SQLite's largest integer by default)."""
    return parse_int(text, field=field, low=1, high=max_value)


def parse_int(text: str, *, field: str, low: int, high: int) -> int:
    """ASCII digits whose value lies in [low, high]; anything else is a BadRequest naming ``field``."""
    significant = text.lstrip("0") or "0"
    if not _ASCII_DIGITS.fullmatch(text) or len(significant) > len(str(high)):
        raise BadRequest(f"参数 {field} 必须是 {low} 到 {high} 之间的整数", field=field)
    value = int(significant)
    if not low <= value <= high:
        raise BadRequest(f"参数 {field} 必须是 {low} 到 {high} 之间的整数", field=field)
    return value


async def _read_body(request: web.Request, max_bytes: int) -> bytes:
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyTooLarge
    body = bytearray()
    while chunk := await request.content.read(CHUNK_BYTES):
        body.extend(chunk)
        if len(body) > max_bytes:
            raise BodyTooLarge
    return bytes(body)


def _charset(request: web.Request) -> str:
    charset = request.charset or "utf-8"
    try:
        if not getattr(codecs.lookup(charset), "_is_text_encoding", True):  # hex, base64, rot13...
            raise LookupError(charset)
    except LookupError as exc:
        raise BadRequest("不支持的字符集，请使用 UTF-8") from exc
    return charset


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except UnicodeError as exc:
        raise BadRequest(f"请求内容不是有效的 {charset.upper()} 编码") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _read_multipart(request: web.Request, max_bytes: int, max_fields: int) -> Form:
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyTooLarge
    form = Form()
    total = count = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            count += 1
            if count > max_fields:
                raise BadRequest(f"表单字段过多（最多 {max_fields} 个）")
            if not isinstance(part, BodyPartReader) or not part.name:
                raise BadRequest("表单格式错误：每一部分都需要字段名")
            data = bytearray()
            while chunk := await part.read_chunk():
                total += len(chunk)
                if total > max_bytes:
                    raise BodyTooLarge
                data.extend(chunk)
            if part.filename is None:
                form.fields.add(part.name, _decode(bytes(data), part.get_charset(default="utf-8")))
            elif data:  # a file input left empty sends a part with no bytes
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                form.files.add(part.name, Upload(part.filename, content_type, bytes(data)))
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyTooLarge from exc
    except _MULTIPART_ERRORS as exc:
        raise BadRequest("表单格式错误（multipart）") from exc
    return form
