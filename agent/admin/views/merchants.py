"""商户: create merchants, show a key once, rotate it, per-merchant totals and how to call us."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from agent import epay, epay_rsa
from agent.admin.plumbing import audit, form_of, path_id, render
from agent.appkeys import DB, MERCHANTS, SETTINGS
from agent.merchants import Merchant
from agent.orders.queries import usage_by_merchant
from agent.platform_key import PLATFORM_KEY
from agent.web.requests import BadRequest, parse_id

routes = web.RouteTableDef()

MAX_NAME = 64


def example_params(merchant: Merchant, base_url: str) -> dict[str, str]:
    """A signed submit.php request for this merchant, ready to paste into a test page."""
    params = {
        "pid": str(merchant.pid), "type": "alipay", "out_trade_no": "TEST20260101001",
        "notify_url": "https://shop.example.com/notify", "return_url": "https://shop.example.com/return",
        "name": "测试商品", "money": "1.00",
    }
    return epay.signed(params, merchant.key)


async def _platform_public(request: web.Request) -> str | None:
    """The platform public key to copy, or None while it cannot be made (the storage takes no writes)."""
    try:
        return await request.config_dict[PLATFORM_KEY].public_key()
    except Exception as exc:
        if not request.config_dict[DB].storage.mark_failed(exc):
            raise
        return None


async def _page(
    request: web.Request, *, errors: Mapping[str, str] | None = None, name: str = "",
    revealed: Merchant | None = None, status: int = 200, rsa: Mapping[str, str] | None = None,
    notice: str = "",
) -> web.Response:
    db = request.config_dict[DB]
    merchants = await request.config_dict[MERCHANTS].list()
    totals = await usage_by_merchant(db)
    base_url = request.config_dict[SETTINGS].base_url
    example_for = revealed or (merchants[-1] if merchants else None)
    context: dict[str, Any] = {
        "merchants": merchants, "totals": totals, "errors": errors or {}, "name": name, "revealed": revealed,
        "base_url": base_url, "example_for": example_for,
        "example": example_params(example_for, base_url) if example_for else None,
        "platform_public": await _platform_public(request), "rsa": rsa or {}, "notice": notice,
    }
    return render(request, "merchants.html", context, status=status)


@routes.get("/merchants")
async def merchants_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/merchants")
async def merchant_create(request: web.Request) -> web.Response:
    name = form_of(request).get("name")
    if not name:
        return await _page(request, errors={"name": "请填写商户名称"}, status=400)
    if len(name) > MAX_NAME:
        return await _page(request, errors={"name": f"名称最多 {MAX_NAME} 个字"}, name=name, status=400)
    merchant = await request.config_dict[MERCHANTS].create(name)
    await audit(request, "merchant.create", str(merchant.pid), {"name": name})
    return await _page(request, revealed=merchant)


@routes.post(r"/merchants/{pid:[0-9]+}/rotate")
async def merchant_rotate(request: web.Request) -> web.Response:
    pid = path_id(request, "pid")
    try:
        merchant = await request.config_dict[MERCHANTS].rotate_key(pid)
    except LookupError as exc:
        raise web.HTTPNotFound(text="商户不存在") from exc
    await audit(request, "merchant.rotate_key", str(pid))
    return await _page(request, revealed=merchant)


@routes.post("/merchants/rsa-key")
async def merchant_rsa_key(request: web.Request) -> web.Response:
    """Register (or with ``clear``, remove) a merchant's RSA public key for epay V2; errors at the field."""
    form = form_of(request)
    raw_pid, text, clear = form.get("pid") or "", (form.get("public_key") or "").strip(), bool(form.get("clear"))
    values = {"pid": raw_pid, "public_key": text}
    try:
        pid = parse_id(raw_pid, field="pid")
    except BadRequest:
        return await _page(request, rsa=values | {"error_pid": "请选择商户"}, status=400)
    if not clear and not text:
        return await _page(request, rsa=values | {"error_public_key": "请粘贴商户的 RSA 公钥"}, status=400)
    try:
        merchant = await request.config_dict[MERCHANTS].set_rsa_key(pid, None if clear else text)
    except epay_rsa.KeyFormatError as exc:
        return await _page(request, rsa=values | {"error_public_key": str(exc)}, status=400)
    except LookupError as exc:
        raise web.HTTPNotFound(text="商户不存在") from exc
    await audit(request, "merchant.set_rsa_key", str(pid), {"cleared": clear})
    done = f"已清除商户 {merchant.name}（PID {pid}）的 RSA 公钥" if clear else (
        f"已保存商户 {merchant.name}（PID {pid}）的 RSA 公钥，可使用易支付 V2（sign_type=RSA）下单"
    )
    return await _page(request, notice=done)
