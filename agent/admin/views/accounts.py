"""平台与账号: add provider accounts, switch them, see their health and failure snapshot, test a login."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from agent.accounts import Account
from agent.admin import actions, snapshots
from agent.admin.forms import FieldError, optional_url, required
from agent.admin.plumbing import audit, form_of, path_id, render, see_other
from agent.appkeys import ACCOUNTS, CODES, DB, SECRETS, SETTINGS
from agent.codes import code_counts_by_account
from agent.platforms import PlatformInfo, known_platforms, sync_platforms
from agent.polling import POLL_SCHEDULER

routes = web.RouteTableDef()


def _platforms(request: web.Request) -> tuple[PlatformInfo, ...]:
    """The platforms of the profile files as they are now (a file added while running shows at once)."""
    return known_platforms(request.config_dict[SETTINGS])


def _names(request: web.Request) -> dict[str, str]:
    return {p.slug: p.name for p in _platforms(request)}


async def _list_page(
    request: web.Request, *, errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    usage = await code_counts_by_account(request.config_dict[DB])
    return render(request, "accounts.html", {
        "accounts": await request.config_dict[ACCOUNTS].accounts(), "usage": usage,
        "done": request.query.get("done", ""),
        "platform_options": [(p.slug, p.name) for p in _platforms(request)], "platform_names": _names(request),
        "errors": errors or {}, "values": values or {},
    }, status=status)


@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.Response:
    return await _list_page(request)


@routes.post("/accounts")
async def account_add(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    values = {k: form.get(k) for k in ("platform", "name", "username", "base_url")}
    try:
        platforms = _platforms(request)
        if values["platform"] not in {p.slug for p in platforms}:
            raise FieldError("platform", "请选择平台")
        await sync_platforms(request.config_dict[DB], platforms)  # writes only a platform new since the start
        name = required("name", values["name"], "账号名称", 64)
        username = required("username", values["username"], "登录用户名")
        password = form.fields.get("password", "")
        if not password:
            raise FieldError("password", "请填写登录密码")
        base_url = optional_url("base_url", values["base_url"])
        account = await request.config_dict[ACCOUNTS].add_account(values["platform"], name, username, password, base_url)
    except FieldError as exc:
        return await _list_page(request, errors={exc.field: exc.message}, values=values, status=400)
    except sqlite3.IntegrityError:
        error = {"username": "该平台下已有这个用户名的账号"}
        return await _list_page(request, errors=error, values=values, status=400)
    await audit(request, "account.add", str(account.id), {"platform": account.platform, "username": username})
    return see_other(f"/admin/accounts/{account.id}?done=added")


async def _account(request: web.Request) -> Account:
    try:
        return await request.config_dict[ACCOUNTS].account(path_id(request))
    except LookupError as exc:
        raise web.HTTPNotFound(text="账号不存在") from exc


async def _detail_page(request: web.Request, account: Account, **extra: Any) -> web.Response:
    settings = request.config_dict[SETTINGS]
    context = {
        "account": account, "platform_names": _names(request),
        "health_at": await request.config_dict[ACCOUNTS].health_at(account.id),
        "codes": await request.config_dict[CODES].codes(account.id),
        "snapshot": snapshots.latest(settings.data_dir, account.id),
        "done": request.query.get("done", ""), "tested": None, "test_error": "", "errors": {},
        "values": {"name": account.name, "base_url": account.base_url or ""},
        **extra,
    }
    return render(request, "account.html", context, status=400 if extra.get("errors") else 200)


@routes.get(r"/accounts/{id:[0-9]+}")
async def account_page(request: web.Request) -> web.Response:
    return await _detail_page(request, await _account(request))


@routes.post(r"/accounts/{id:[0-9]+}")
async def account_edit(request: web.Request) -> web.StreamResponse:
    """Rename, change the back office address, or store a new password (left empty: kept)."""
    account = await _account(request)
    form = form_of(request)
    values = {k: form.get(k) for k in ("name", "base_url")}
    try:
        name = required("name", values["name"], "账号名称", 64)
        base_url = optional_url("base_url", values["base_url"])
    except FieldError as exc:
        return await _detail_page(request, account, errors={exc.field: exc.message}, values=values)
    password = form.fields.get("password") or None
    updated = await request.config_dict[ACCOUNTS].update_account(account.id, name=name, base_url=base_url, password=password)
    changed = [field for field in ("name", "base_url") if getattr(updated, field) != getattr(account, field)]
    if password:
        changed.append("password")  # that it changed, never what it is
    await audit(request, "account.update", str(account.id), {"changed": changed})
    return see_other(f"/admin/accounts/{account.id}?done=updated")


@routes.post(r"/accounts/{id:[0-9]+}/enabled")
async def account_enable(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    enabled = form_of(request).get("enabled") == "1"
    await request.config_dict[ACCOUNTS].set_account_enabled(account.id, enabled)
    await audit(request, "account.enable" if enabled else "account.disable", str(account.id))
    return see_other(f"/admin/accounts/{account.id}?done={'enabled' if enabled else 'disabled'}")


@routes.post(r"/accounts/{id:[0-9]+}/test")
async def account_test(request: web.Request) -> web.Response:
    account = await _account(request)
    app = request.config_dict
    try:
        tested = await actions.run_account_test(app[SETTINGS], app[DB], app[SECRETS], account.id)
    except actions.ActionRefused as exc:
        return await _detail_page(request, await _account(request), test_error=str(exc))
    await audit(request, "account.test", str(account.id), {"transactions": len(tested)})
    return await _detail_page(request, await _account(request), tested=tested)


@routes.post(r"/accounts/{id:[0-9]+}/otp")
async def account_otp(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    app = request.config_dict
    try:
        await actions.send_otp(app[DB], app[SECRETS], account.id, form_of(request).get("otp"))
    except actions.ActionRefused as exc:
        return await _detail_page(request, account, errors={"otp": str(exc)})
    await audit(request, "account.otp", str(account.id))  # the code itself never reaches the audit log
    return see_other(f"/admin/accounts/{account.id}?done=otp")


@routes.post(r"/accounts/{id:[0-9]+}/retry")
async def account_retry(request: web.Request) -> web.StreamResponse:
    """立即重试: the running scheduler reads the account now (also when it waits for a person)."""
    account = await _account(request)
    app = request.config_dict
    try:
        await actions.retry_now(app[ACCOUNTS], app.get(POLL_SCHEDULER), account.id)
    except actions.ActionRefused as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    await audit(request, "account.retry", str(account.id))
    if form_of(request).get("back") == "list":
        return see_other("/admin/accounts?done=retry")
    return see_other(f"/admin/accounts/{account.id}?done=retry")


@routes.get(r"/accounts/{id:[0-9]+}/snapshots/{stamp}/{name}")
async def snapshot_file(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    name = request.match_info["name"]
    path = snapshots.file_path(
        request.config_dict[SETTINGS].data_dir, account.id, request.match_info["stamp"], name
    )
    if path is None:
        raise web.HTTPNotFound(text="快照不存在")
    # A provider's page is shown as text, never rendered: its scripts must not run on our origin.
    return web.FileResponse(path, headers={"Content-Type": snapshots.FILES[name], "X-Content-Type-Options": "nosniff"})


