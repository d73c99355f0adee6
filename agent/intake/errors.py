"""Intake errors and the middleware that answers them (and any bug) in each endpoint's own shape."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from enum import StrEnum

import structlog
from aiohttp import web
from aiohttp.hdrs import ALLOW

from agent.appkeys import STORAGE
from agent.web.requests import BadRequest

log = structlog.get_logger(__name__)


class Reason(StrEnum):
    """Why a request was refused; each protocol maps it to its own code or HTTP status."""

    INVALID = "invalid_request"
    BAD_SIGN = "invalid_sign"
    UNKNOWN_MERCHANT = "unknown_merchant"
    MERCHANT_DISABLED = "merchant_disabled"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal_error"


class IntakeError(Exception):
    """A refused request; ``message`` is Chinese and safe to show to the merchant or payer."""

    def __init__(self, message: str, reason: Reason = Reason.INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class RetryLater(IntakeError):
    """The gateway cannot write orders right now (full disk...): answered with 503 and Retry-After everywhere."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Reason.UNAVAILABLE)


RETRY_AFTER_SECONDS = "30"
STORAGE_REFUSAL = "{message}，暂时无法下单，请稍后重试"


_API_PHP_CODES = {Reason.NOT_FOUND: -1, Reason.BAD_SIGN: -2, Reason.UNKNOWN_MERCHANT: -3, Reason.INVALID: -4}
_NATIVE_STATUS = {
    Reason.INVALID: 400, Reason.BAD_SIGN: 401, Reason.MERCHANT_DISABLED: 403, Reason.UNKNOWN_MERCHANT: 404,
    Reason.NOT_FOUND: 404, Reason.CONFLICT: 409, Reason.UNAVAILABLE: 503, Reason.INTERNAL: 503,
}
_HTTP_MESSAGES = {404: "接口不存在", 405: "不支持的请求方法", 413: "请求内容过大"}

_ERROR_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>下单失败</title><style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#333}}
h1{{font-size:1.3rem;color:#c0392b}}</style></head>
<body><h1>下单失败</h1><p class="error">{message}</p><p>请返回商户网站重新下单，或联系商户。</p></body></html>
"""


def epay_error(error: IntakeError) -> web.Response:
    """``{"code":-1,"msg":...}``: epay answers errors with HTTP 200 and a negative code."""
    return web.json_response({"code": -1, "msg": error.message})


def api_php_error(error: IntakeError) -> web.Response:
    return web.json_response({"code": _API_PHP_CODES.get(error.reason, -1), "msg": error.message})


def submit_error(error: IntakeError) -> web.Response:
    return web.Response(
        text=_ERROR_PAGE.format(message=html.escape(error.message)), status=400, content_type="text/html"
    )


def native_error(error: IntakeError) -> web.Response:
    return web.json_response(
        {"error": error.reason.value, "message": error.message}, status=_NATIVE_STATUS[error.reason]
    )


Renderer = Callable[[IntakeError], web.Response]
_RENDERERS: dict[str, Renderer] = {
    "/submit.php": submit_error, "/mapi.php": epay_error, "/api.php": api_php_error,
    # epay V2: errors are {"code": -1, "msg": ...} too (non-zero means refused), the browser jump a page
    "/api/pay/submit": submit_error, "/api/pay/create": epay_error, "/api/pay/query": epay_error,
    "/api/pay/refund": epay_error, "/api/merchant/info": epay_error,
}
NATIVE_PREFIX = "/api/v1/"


def _renderer(path: str) -> Renderer | None:
    if path.startswith(NATIVE_PREFIX):
        return native_error
    return _RENDERERS.get(path)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def intake_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals and unexpected failures on intake routes become the protocol's error shape, never a 500."""
    render = _renderer(request.path)
    if render is None:
        return await handler(request)
    try:
        return await handler(request)
    except IntakeError as error:
        log.info("intake_refused", path=request.path, reason=error.reason.value, msg=error.message)
        return _respond(render, error)
    except BadRequest as exc:  # unreadable body or parameter: the client's mistake, not ours
        log.info("intake_refused", path=request.path, reason=Reason.INVALID.value, msg=exc.message)
        response = render(IntakeError(exc.message))
        if exc.status != 400:  # too large: say so with the status too, whatever the shape
            response.set_status(exc.status)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = Reason.NOT_FOUND if exc.status == 404 else Reason.INVALID
        response = render(IntakeError(_HTTP_MESSAGES.get(exc.status, "请求无效"), reason))
        response.set_status(exc.status)
        if ALLOW in exc.headers:  # 405: which methods the route takes
            response.headers[ALLOW] = exc.headers[ALLOW]
        return response
    except Exception as exc:
        storage = request.app[STORAGE]
        if storage.mark_failed(exc):  # logged there, once a minute; nothing was written (one transaction)
            message = STORAGE_REFUSAL.format(message=storage.message or "存储暂时不可写入")
            return _respond(render, RetryLater(message))
        log.exception("intake_failed", path=request.path)
        return render(IntakeError("系统繁忙，请稍后再试", Reason.INTERNAL))


def _respond(render: Renderer, error: IntakeError) -> web.Response:
    response = render(error)
    if isinstance(error, RetryLater):
        response.set_status(503)
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response
