"""收款码: upload a QR picture (decoded and stored as its payload), terminal id, daily cap, usage, on/off."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from agent.admin.forms import FieldError, at_most, int_id, optional_yuan
from agent.admin.plumbing import Upload, audit, form_of, path_id, render, see_other
from agent.admin.qrimage import decode_qr, svg_data_uri
from agent.appkeys import ACCOUNTS, CODES, DB
from agent.codes import Code
from agent.db import now_ms
from agent.errors import CodeBusy
from agent.money import format_yuan
from agent.orders.queries import usage_by_code
from agent.timefmt import shanghai_day_start_ms

routes = web.RouteTableDef()

MAX_PAYLOAD = 1024


async def _page(
    request: web.Request, *, errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    db = request.config_dict[DB]
    pool = request.config_dict[CODES]
    accounts = await request.config_dict[ACCOUNTS].accounts()
    usage = await usage_by_code(db, shanghai_day_start_ms(now_ms()))
    codes = await pool.codes()
    return render(request, "codes.html", {
        "codes": codes, "accounts": {a.id: a for a in accounts},
        "account_options": [(a.id, f"{a.name}（{a.username}）") for a in accounts],
        "usage": usage, "qr": {c.id: svg_data_uri(c.payload) for c in codes if c.payload},
        "errors": errors or {}, "values": values or {"account": request.query.get("account", "")},
        "done": request.query.get("done", ""),
    }, status=status)


@routes.get("/codes")
async def codes_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/codes")
async def code_add(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    values = {k: form.get(k) for k in ("account", "terminal_id", "label", "daily_cap", "payload")}
    try:
        account_id = int_id("account", values["account"], "所属账号")
        if account_id not in {a.id for a in await request.config_dict[ACCOUNTS].accounts()}:
            raise FieldError("account", "请选择所属账号")
        payload = await _payload(form.files.get("image"), values["payload"])
        cap = optional_yuan("daily_cap", values["daily_cap"])
        at_most("terminal_id", values["terminal_id"], "终端号", 64)
    except FieldError as exc:
        return await _page(request, errors={exc.field: exc.message}, values=values, status=400)
    code = await request.config_dict[CODES].add_code(
        account_id, payload=payload, terminal_id=values["terminal_id"] or None, label=values["label"][:64],
        daily_cap_fen=cap,
    )
    await audit(request, "code.add", str(code.id), {"account_id": account_id})
    return see_other(f"/admin/codes?done=added#code-{code.id}")


async def _payload(upload: Upload | None, typed: str) -> str:
    """The QR's content: decoded from the uploaded picture, or typed in when there is no picture."""
    if upload is not None:
        payload = await decode_qr(upload.data)
        if payload is None:
            raise FieldError("image", "未能识别图片中的二维码，请上传清晰、完整的二维码图片")
        return payload
    if not typed:
        raise FieldError("image", "请上传收款码图片，或填写二维码内容")
    if len(typed) > MAX_PAYLOAD:
        raise FieldError("payload", f"二维码内容最多 {MAX_PAYLOAD} 个字符")
    return typed


async def _code(request: web.Request) -> Code:
    try:
        return await request.config_dict[CODES].code(path_id(request))
    except LookupError as exc:
        raise web.HTTPNotFound(text="收款码不存在") from exc


async def _edit_page(
    request: web.Request, code: Code, *, errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> web.Response:
    shown = {
        "label": code.label, "terminal_id": code.terminal_id or "",
        "daily_cap": format_yuan(code.daily_cap_fen) if code.daily_cap_fen else "",
    }
    return render(request, "code.html", {
        "code": code, "account": await request.config_dict[ACCOUNTS].account(code.account_id),
        "qr": svg_data_uri(code.payload) if code.payload else None,
        "errors": errors or {}, "values": values or shown, "done": request.query.get("done", ""),
    }, status=400 if errors else 200)


@routes.get(r"/codes/{id:[0-9]+}")
async def code_page(request: web.Request) -> web.Response:
    return await _edit_page(request, await _code(request))


@routes.post(r"/codes/{id:[0-9]+}")
async def code_edit(request: web.Request) -> web.StreamResponse:
    """Change the label, terminal id (not while orders wait on the code) or daily cap (empty: no cap)."""
    code = await _code(request)
    form = form_of(request)
    values = {k: form.get(k) for k in ("label", "terminal_id", "daily_cap")}
    try:
        label = at_most("label", values["label"], "备注", 64)
        terminal_id = at_most("terminal_id", values["terminal_id"], "终端号", 64) or None
        cap = optional_yuan("daily_cap", values["daily_cap"])
        try:
            updated = await request.config_dict[CODES].update_code(
                code.id, label=label, terminal_id=terminal_id, daily_cap_fen=cap
            )
        except CodeBusy as exc:
            raise FieldError("terminal_id", "该收款码还有待支付的订单，请在订单结束后再修改终端号") from exc
    except FieldError as exc:
        return await _edit_page(request, code, errors={exc.field: exc.message}, values=values)
    changed = [field for field in ("label", "terminal_id", "daily_cap_fen") if getattr(updated, field) != getattr(code, field)]
    await audit(request, "code.update", str(code.id), {"changed": changed})
    return see_other(f"/admin/codes/{code.id}?done=updated")


@routes.post(r"/codes/{id:[0-9]+}/enabled")
async def code_enable(request: web.Request) -> web.StreamResponse:
    code_id = path_id(request)
    enabled = form_of(request).get("enabled") == "1"
    try:
        await request.config_dict[CODES].set_code_enabled(code_id, enabled)
    except LookupError as exc:
        raise web.HTTPNotFound(text="收款码不存在") from exc
    await audit(request, "code.enable" if enabled else "code.disable", str(code_id))
    return see_other(f"/admin/codes?done={'enabled' if enabled else 'disabled'}#code-{code_id}")
