"""The OpenAPI 3.1 description of the native JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from agent.intake.fields import PAY_TYPES, PID_MAX
from agent.orders import OrderStatus
from agent.web.requests import JSON_MAX_BYTES, JSON_MAX_DEPTH

_YUAN = {"type": "string", "pattern": r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$", "examples": ["12.50"]}
# What parse_yuan takes: 0.01 to 1000000.00 yuan, at most two decimals.
_MONEY_IN = {
    "type": "string", "examples": ["12.50"],
    "pattern": r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,5}(\.[0-9]{1,2})?|1000000(\.00?)?)$",
}
# What parse_pid takes: ASCII digits, 1 to 9999999999 (leading zeros are ignored, the sign covers them).
_PID_INTEGER = {"type": "integer", "minimum": 1, "maximum": PID_MAX}
_PID_STRING = {"type": "string", "pattern": r"^0*[1-9][0-9]{0,9}$"}
_URL_IN = {"format": "uri", "maxLength": 1024, "pattern": r"^https?://[^\s\x00-\x1f]+$"}
_SIGN_NOTE = (
    "MD5 signature, epay V1 rule: every non-empty field except sign and sign_type, sorted by key, joined as "
    "k1=v1&k2=v2 with raw values, the merchant key appended directly, MD5, lowercase hex."
)


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": _string("Machine-readable reason", enum=[
            "invalid_request", "invalid_sign", "unknown_merchant", "merchant_disabled", "not_found",
            "conflict", "unavailable", "internal_error",
        ]),
        "message": _string("Human-readable reason in Simplified Chinese"),
    },
}

_ORDER = {
    "type": "object",
    "required": ["trade_no", "out_trade_no", "pid", "name", "money", "pay_amount", "status", "payurl"],
    "properties": {
        "trade_no": _string("Our order number: digits, sortable by creation time", pattern="^[0-9]+$"),
        "out_trade_no": _string("The merchant's order number"),
        "pid": {"type": "integer"},
        "type": {"type": ["string", "null"], "description": "Pay method; null until the payer chooses"},
        "name": _string("Product name (at most 127 UTF-8 bytes)"),
        "money": {**_YUAN, "description": "The merchant's amount in yuan: notifies always carry this"},
        "pay_amount": {**_YUAN, "description": "What the payer must pay: money adjusted to be unique"},
        "status": _string("Order state", enum=[status.value for status in OrderStatus]),
        "payurl": _string("Cashier page to send the payer to", format="uri"),
        "created_at": _string("ISO 8601, China time", format="date-time"),
        "expires_at": _string("ISO 8601, China time", format="date-time"),
        "paid_at": {"type": ["string", "null"], "format": "date-time"},
        "param": _string("Returned unchanged in notify and return"),
        "sitename": _string("Shown on the cashier page"),
    },
}

_CREATE = {
    "type": "object",
    "required": ["pid", "out_trade_no", "notify_url", "name", "money", "sign"],
    "properties": {
        "pid": {"oneOf": [_PID_INTEGER, _PID_STRING],
                "description": "Merchant id, a positive integer (or its decimal string); signed as its string"},
        "type": _string("Pay method; omit to let the payer choose", enum=sorted(PAY_TYPES)),
        "out_trade_no": _string("Merchant order number", pattern=r"^[a-zA-Z0-9._\-|]{1,64}$"),
        "notify_url": _string("http(s) URL receiving the signed epay notify, no blanks", **_URL_IN),
        "return_url": _string("http(s) URL the payer returns to, no blanks", **_URL_IN),
        "name": _string("Product name, not blank; cut to 127 UTF-8 bytes", pattern=r"\S"),
        "money": {**_MONEY_IN, "description": "Amount in yuan as a STRING (numbers are refused): 0.01 to 1000000"},
        "clientip": _string("Payer IP", maxLength=64),
        "device": _string("pc, mobile, qq, wechat, alipay", default="pc", pattern="^[a-z0-9_]{1,16}$"),
        "param": _string("Returned unchanged", maxLength=1024),
        "sitename": _string("Shown on the cashier page", maxLength=64),
        "sign": _string(_SIGN_NOTE),
        "sign_type": _string("MD5 (not signed)", enum=["MD5"]),
    },
    "additionalProperties": {"type": "string"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAVAILABLE = (
    "No code or unique amount available right now; or, with Retry-After, the gateway is stopping or cannot "
    "write (full disk)"
)

_ERRORS = {
    "400": _json(_ERROR, "Invalid field or malformed body"),
    "401": _json(_ERROR, "Missing or wrong signature"),
    "403": _json(_ERROR, "Merchant disabled"),
    "404": _json(_ERROR, "Unknown merchant or order"),
}
_BODY_NOTE = (
    f"A JSON object of at most {JSON_MAX_BYTES // 1024} KiB, nested at most {JSON_MAX_DEPTH} deep, in UTF-8; "
    "each field a string (pid may be an integer; null means absent); a field may appear once."
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "mapay native API",
        "version": "1.0.0",
        "description": "Create and query orders with JSON. Same fields and MD5 signing as epay V1 "
        "(/submit.php, /mapi.php, /api.php are served too).",
    },
    "paths": {
        "/api/v1/orders": {
            "post": {
                "operationId": "createOrder",
                "summary": "Create an order, or get the existing one for a re-used out_trade_no",
                "requestBody": {
                    "required": True, "description": _BODY_NOTE,
                    "content": {"application/json": {"schema": _CREATE}},
                },
                "responses": {
                    "201": _json(_ORDER, "Order created"),
                    "200": _json(_ORDER, "Same out_trade_no and unchanged fields: the existing order"),
                    **_ERRORS,
                    "409": _json(_ERROR, "out_trade_no re-used with changed fields, or already paid/closed"),
                    "413": _json(_ERROR, f"Body over {JSON_MAX_BYTES // 1024} KiB"),
                    "503": _json(_ERROR, _UNAVAILABLE),
                },
            }
        },
        "/api/v1/orders/{trade_no}": {
            "get": {
                "operationId": "getOrder",
                "summary": "Read one order of the signing merchant",
                "parameters": [
                    {"name": "trade_no", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "pid", "in": "query", "required": True, "schema": _PID_INTEGER},
                    {"name": "sign", "in": "query", "required": True,
                     "description": _SIGN_NOTE + " Signed fields: pid and trade_no (from the path).",
                     "schema": {"type": "string"}},
                    {"name": "sign_type", "in": "query", "schema": {"type": "string", "enum": ["MD5"]}},
                ],
                "responses": {"200": _json(_ORDER, "The order"), **_ERRORS},
            }
        },
    },
}
