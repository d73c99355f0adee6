"""``merchant``, ``platform``, ``account`` and ``code`` commands."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from agent.accounts import UNCHANGED, AccountExists, Unchanged
from agent.accounts.otp import deliver_otp
from agent.audit import record_audit
from agent.cli import account_test, rsa_keys
from agent.cli.context import CliContext
from agent.cli.errors import CliProblem
from agent.cli.output import emit, fail
from agent.money import MoneyError, format_yuan, parse_yuan
from agent.platforms import known_platforms
from agent.settings import Settings
from agent.timefmt import format_local


def register(commands: Any) -> None:
    merchant = commands.add_parser("merchant", help="merchant sites that post orders").add_subparsers(
        dest="action", required=True
    )
    add = merchant.add_parser("add", help="create a merchant; prints its pid and key once")
    add.add_argument("name")
    add.set_defaults(handler=merchant_add)
    merchant.add_parser("list", help="list merchants (keys are not shown)").set_defaults(handler=merchant_list)
    rotate = merchant.add_parser("rotate-key", help="replace a merchant's key; prints the new key once")
    rotate.add_argument("pid", type=int)
    rotate.set_defaults(handler=merchant_rotate)
    for verb, enabled in (("disable", False), ("enable", True)):
        cmd = merchant.add_parser(verb, help=f"{verb} a merchant's orders (a running gateway follows within seconds)")
        cmd.add_argument("pid", type=int)
        cmd.set_defaults(handler=merchant_enable, enabled=enabled)
    rsa_keys.register_merchant(merchant)

    platform = commands.add_parser("platform", help="provider platforms").add_subparsers(dest="action", required=True)
    platform.add_parser("list", help="list supported platforms").set_defaults(handler=platform_list)

    account = commands.add_parser("account", help="provider accounts").add_subparsers(dest="action", required=True)
    add = account.add_parser("add", help="add a provider account (password read from a prompt or stdin)")
    add.add_argument("--platform", required=True, help="platform slug (mapay platform list)")
    add.add_argument("--name", required=True, help="a label for people")
    add.add_argument("--username", required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--base-url", help="override the profile's base URL (e.g. a simulated back office)")
    add.set_defaults(handler=account_add)
    account.add_parser("list", help="list accounts with their health").set_defaults(handler=account_list)
    update = account.add_parser("update", help="rename an account, change its base URL or its password")
    update.add_argument("id", type=int)
    update.add_argument("--name")
    update.add_argument("--base-url", help="new back office address; an empty string goes back to the profile's")
    update.add_argument("--password-stdin", action="store_true", help="read a new password from standard input")
    update.set_defaults(handler=account_update)
    for verb, enabled in (("disable", False), ("enable", True)):
        cmd = account.add_parser(verb, help=f"{verb} an account for new orders and polling")
        cmd.add_argument("id", type=int)
        cmd.set_defaults(handler=account_enable, enabled=enabled)

    retry = account.add_parser(
        "retry", help="ask the running gateway to read the account now (also after a refused login)"
    )
    retry.add_argument("id", type=int)
    retry.set_defaults(handler=account_retry)
    test = account.add_parser("test", help="log in (printing each step) and print the recent transactions, normalized")
    test.add_argument("id", type=int)
    test.add_argument("--headed", action="store_true", help="show the browser (needs a desktop)")
    test.add_argument("--minutes", type=int, default=60, help="how far back to read")
    test.set_defaults(handler=account_test.account_test)
    otp = account.add_parser("otp", help="deliver the one-time code (SMS) an account is waiting for")
    otp.add_argument("id", type=int)
    otp.add_argument("code")
    otp.set_defaults(handler=account_otp)

    code = commands.add_parser("code", help="QR codes").add_subparsers(dest="action", required=True)
    add = code.add_parser("add", help="add a QR code to an account")
    add.add_argument("--account", type=int, required=True)
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--payload", help="the QR's content (a URL as scanned)")
    source.add_argument("--image", type=Path, help="a PNG/JPEG picture of the QR")
    add.add_argument("--terminal", help="terminal / QR plate id as the provider's records show it")
    add.add_argument("--label", default="")
    add.add_argument("--daily-cap", help="maximum yuan per day through this code")
    add.set_defaults(handler=code_add)
    update = code.add_parser("update", help="change a code's label, terminal id or daily cap")
    update.add_argument("id", type=int)
    update.add_argument("--label")
    update.add_argument("--terminal", help="terminal / QR plate id; an empty string removes it")
    update.add_argument("--daily-cap", metavar="YUAN|none", help="maximum yuan per day, or 'none' for no cap")
    update.set_defaults(handler=code_update)
    listing = code.add_parser("list", help="list codes")
    listing.add_argument("--account", type=int)
    listing.set_defaults(handler=code_list)
    for verb, enabled in (("disable", False), ("enable", True)):
        cmd = code.add_parser(verb, help=f"{verb} a code for new orders")
        cmd.add_argument("id", type=int)
        cmd.set_defaults(handler=code_enable, enabled=enabled)


async def merchant_add(ctx: CliContext, args: argparse.Namespace) -> int:
    merchant = await ctx.merchants.create(args.name)
    emit({"pid": merchant.pid, "name": merchant.name, "key": merchant.key}, as_json=args.json)
    if not args.json:
        print("Keep the key now: it is not shown again (rotate-key makes a new one).", file=sys.stderr)
    return 0


async def merchant_list(ctx: CliContext, args: argparse.Namespace) -> int:
    merchants = await ctx.merchants.list()
    emit([{"pid": m.pid, "name": m.name, "enabled": m.enabled} for m in merchants], as_json=args.json)
    return 0


async def merchant_rotate(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        merchant = await ctx.merchants.rotate_key(args.pid)
    except LookupError as exc:
        return fail(str(exc))
    await _audit(ctx, "merchant.rotate_key", str(merchant.pid))
    emit({"pid": merchant.pid, "key": merchant.key}, as_json=args.json)
    return 0


async def merchant_enable(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        merchant = await ctx.merchants.set_enabled(args.pid, args.enabled)
    except LookupError as exc:
        return fail(str(exc))
    await _audit(ctx, "merchant.enable" if args.enabled else "merchant.disable", str(merchant.pid))
    emit({"pid": merchant.pid, "name": merchant.name, "enabled": merchant.enabled}, as_json=args.json)
    return 0


async def _audit(ctx: CliContext, action: str, target: str) -> None:
    await record_audit(ctx.db, "cli", action, target, {})


async def platform_list(ctx: CliContext, args: argparse.Namespace) -> int:
    platforms = known_platforms(ctx.settings)
    emit([{"slug": p.slug, "name": p.name, "has_terminal": p.has_terminal, "profile": str(p.path)}
          for p in platforms], as_json=args.json)
    for broken in (p for p in platforms if p.problem):
        print(f"配置文件有误（该平台的账号暂不可用）：{broken.problem}", file=sys.stderr)
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass("provider password: ")


def _known_platform(settings: Settings, slug: str) -> str:
    platforms = known_platforms(settings)
    if slug not in {p.slug for p in platforms}:
        known = "、".join(f"{p.slug}（{p.name}）" for p in platforms)
        raise CliProblem(f"未知平台 {slug}：可选 {known}（mapay platform list 列出全部）")
    return slug


async def account_add(ctx: CliContext, args: argparse.Namespace) -> int:
    platform = _known_platform(ctx.settings, args.platform)
    password = _read_password(args.password_stdin)
    if not password:
        return fail("密码不能为空")
    try:
        account = await ctx.accounts.add_account(platform, args.name, args.username, password, args.base_url)
    except AccountExists as exc:
        raise CliProblem(str(exc)) from None
    except ValueError as exc:
        return fail(str(exc))
    emit(account, as_json=args.json)
    return 0


def _cleared_if_empty(option: str | None) -> str | Unchanged | None:
    """An option left out keeps the stored value; given as an empty string it clears it."""
    return UNCHANGED if option is None else option or None


async def account_update(ctx: CliContext, args: argparse.Namespace) -> int:
    password = _read_password(True) if args.password_stdin else None
    try:
        account = await ctx.accounts.update_account(
            args.id, name=args.name, base_url=_cleared_if_empty(args.base_url), password=password
        )
    except (LookupError, ValueError) as exc:
        return fail(str(exc))
    emit(account, as_json=args.json)
    return 0


async def account_list(ctx: CliContext, args: argparse.Namespace) -> int:
    accounts = await ctx.accounts.accounts()
    if args.json:
        emit(accounts, as_json=True)
        return 0
    emit([
        {"id": a.id, "platform": a.platform, "name": a.name, "username": a.username, "enabled": a.enabled,
         "health": a.health.value, "problem": a.problem,
         "failed_at": format_local(a.failure_at) if a.problem and a.failure_at else None,
         "detail": a.health_reason if a.problem else None}
        for a in accounts
    ], as_json=False)
    return 0


async def account_retry(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        await ctx.accounts.request_probe(args.id)
    except LookupError as exc:
        return fail(str(exc))
    emit({"account_id": args.id, "retry_requested": True}, as_json=args.json)
    return 0


async def account_enable(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        await ctx.accounts.set_account_enabled(args.id, args.enabled)
    except LookupError as exc:
        return fail(str(exc))
    emit(await ctx.accounts.account(args.id), as_json=args.json)
    return 0


async def account_otp(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        await deliver_otp(ctx.db, ctx.box, args.id, args.code)
    except (LookupError, ValueError) as exc:
        return fail(str(exc))
    emit({"account_id": args.id, "delivered": True}, as_json=args.json)
    return 0


async def code_add(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        cap = parse_yuan(args.daily_cap) if args.daily_cap else None
    except MoneyError as exc:
        return fail(f"每日限额 --daily-cap 无效：{exc}")
    image = args.image.read_bytes() if args.image else None
    image_type = None
    if args.image:
        image_type = "image/png" if args.image.suffix.lower() == ".png" else "image/jpeg"
    try:
        code = await ctx.codes.add_code(
            args.account, payload=args.payload, image=image, image_type=image_type,
            terminal_id=args.terminal, label=args.label, daily_cap_fen=cap,
        )
    except LookupError as exc:
        return fail(str(exc))
    emit(code, as_json=args.json)
    return 0


async def code_update(ctx: CliContext, args: argparse.Namespace) -> int:
    cap: int | Unchanged | None = UNCHANGED
    try:
        if args.daily_cap is not None:
            cap = None if args.daily_cap.lower() == "none" else parse_yuan(args.daily_cap)
    except MoneyError as exc:
        return fail(f"每日限额 --daily-cap 无效：{exc}")
    try:
        code = await ctx.codes.update_code(
            args.id, label=args.label, terminal_id=_cleared_if_empty(args.terminal), daily_cap_fen=cap
        )
    except (LookupError, ValueError) as exc:
        return fail(str(exc))
    emit(code, as_json=args.json)
    return 0


async def code_list(ctx: CliContext, args: argparse.Namespace) -> int:
    codes = await ctx.codes.codes(args.account)
    if args.json:
        emit(codes, as_json=True)
        return 0
    emit([
        {"id": c.id, "account_id": c.account_id, "label": c.label, "terminal_id": c.terminal_id,
         "enabled": c.enabled, "daily_cap": format_yuan(c.daily_cap_fen) if c.daily_cap_fen is not None else None,
         "last_used": format_local(c.last_used_at) if c.last_used_at else "从未使用",
         "qr": "图片" if c.has_image else c.payload}
        for c in codes
    ], as_json=False)
    return 0


async def code_enable(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        await ctx.codes.set_code_enabled(args.id, args.enabled)
    except LookupError as exc:
        return fail(str(exc))
    emit(await ctx.codes.code(args.id), as_json=args.json)
    return 0
