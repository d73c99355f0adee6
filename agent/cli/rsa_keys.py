"""epay V2 (RSA) keys: ``mapay platform-key`` and ``mapay merchant set-rsa-key``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent import epay_rsa
from agent.audit import write_audit
from agent.cli.context import CliContext
from agent.cli.errors import CliProblem
from agent.cli.output import emit
from agent.platform_key import PlatformKey

_KEY_FILE_MAX = 64 * 1024


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "platform-key", help="print the platform RSA public key (平台公钥) merchants paste into epay V2 plugins"
    )
    cmd.add_argument("--pem", action="store_true", help="PEM armour instead of the bare base64 body")
    cmd.set_defaults(handler=platform_key)


def register_merchant(merchant: Any) -> None:
    """``merchant set-rsa-key`` (the ``merchant`` command's sub-parsers are passed in)."""
    cmd = merchant.add_parser(
        "set-rsa-key", help="register a merchant's RSA public key for epay V2 (sign_type=RSA) requests"
    )
    cmd.add_argument("pid", type=int)
    source = cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--public-key-file", type=Path, help="the merchant public key, PEM or bare base64 ('-': stdin)")
    source.add_argument("--clear", action="store_true", help="remove the key: RSA requests are refused again")
    cmd.set_defaults(handler=merchant_set_rsa_key)


async def platform_key(ctx: CliContext, args: argparse.Namespace) -> int:
    store = PlatformKey(ctx.db, ctx.box)
    try:
        body = await store.public_key()
    except Exception as exc:
        if not ctx.db.storage.mark_failed(exc):
            raise
        raise CliProblem(f"无法生成平台密钥：{ctx.db.storage.message}，请释放磁盘空间后重试") from exc
    if args.json:
        print(json.dumps({"public_key": body}))
    elif args.pem:
        print(epay_rsa.public_key_pem(await store.public_key_object()), end="")
    else:
        print(body)
    return 0


async def merchant_set_rsa_key(ctx: CliContext, args: argparse.Namespace) -> int:
    text = None if args.clear else _read_key_file(args.public_key_file)
    try:
        merchant = await ctx.merchants.set_rsa_key(args.pid, text)
    except epay_rsa.KeyFormatError as exc:
        raise CliProblem(f"商户公钥无效：{exc}") from exc
    except LookupError as exc:
        raise CliProblem(f"商户 {args.pid} 不存在（mapay merchant list 列出所有商户）") from exc
    async with ctx.db.transaction() as conn:
        await write_audit(conn, "cli", "merchant.set_rsa_key", str(merchant.pid), {"cleared": bool(args.clear)})
    emit({"pid": merchant.pid, "name": merchant.name, "rsa_public_key": merchant.rsa_public_key}, as_json=args.json)
    return 0


def _read_key_file(path: Path) -> str:
    try:
        raw = sys.stdin.buffer.read(_KEY_FILE_MAX + 1) if str(path) == "-" else _read_bounded(path)
    except FileNotFoundError as exc:
        raise CliProblem(f"找不到公钥文件 {path}") from exc
    except IsADirectoryError as exc:
        raise CliProblem(f"{path} 是目录，请指定公钥文件") from exc
    except PermissionError as exc:
        raise CliProblem(f"无权读取公钥文件 {path}") from exc
    if len(raw) > _KEY_FILE_MAX:
        raise CliProblem(f"公钥文件 {path} 过大，请只放 RSA 公钥")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliProblem(f"公钥文件 {path} 不是文本（需要 PEM 或 base64 格式的 RSA 公钥）") from exc


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_KEY_FILE_MAX + 1)
