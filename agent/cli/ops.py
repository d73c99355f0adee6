"""``backup``: a consistent copy of the database while the gateway keeps running."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli.context import CliContext
from agent.cli.output import emit
from agent.ops.backup import backup


def register(commands: Any) -> None:
    cmd = commands.add_parser("backup", help="write a consistent copy of the SQLite database to PATH")
    cmd.add_argument("path", type=Path)
    cmd.set_defaults(handler=run_backup)


async def run_backup(ctx: CliContext, args: argparse.Namespace) -> int:
    written = await backup(ctx.db, args.path)
    emit({"path": str(written), "bytes": written.stat().st_size}, as_json=args.json)
    return 0
