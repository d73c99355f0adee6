"""``mapay admin create USERNAME``: the administrators of the web console."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from agent.admin.auth import AdminExists, WeakPassword, create_admin
from agent.cli.context import CliContext
from agent.cli.output import emit, fail


def register(commands: Any) -> None:
    admin = commands.add_parser("admin", help="administrators of the web console").add_subparsers(
        dest="action", required=True
    )
    create = admin.add_parser("create", help="create an administrator (password from a prompt or stdin)")
    create.add_argument("username")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(handler=admin_create)


def _read_new_password(from_stdin: bool) -> str | None:
    """The password, typed twice at a prompt; None when the two differ."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new admin password: ")
    return first if getpass.getpass("repeat password: ") == first else None


async def admin_create(ctx: CliContext, args: argparse.Namespace) -> int:
    password = _read_new_password(args.password_stdin)
    if password is None:
        return fail("两次输入的密码不一致")
    try:
        admin = await create_admin(ctx.db, args.username, password)
    except (AdminExists, WeakPassword, ValueError) as exc:
        return fail(str(exc))
    emit({"id": admin.id, "username": admin.username}, as_json=args.json)
    return 0
