"""Resources a CLI command works with: the same database and secret box the server uses."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from agent.accounts import AccountBook
from agent.cli.errors import check_data_folder
from agent.codes import CodeBook
from agent.crypto import SecretBox, load_secret_box
from agent.db import Database
from agent.merchants import MerchantBook
from agent.platforms import known_platforms, sync_platforms
from agent.settings import Settings


@dataclass
class CliContext:
    settings: Settings
    db: Database
    box: SecretBox
    merchants: MerchantBook
    codes: CodeBook
    accounts: AccountBook


def say_new_database(settings: Settings) -> None:
    """A new, empty database is news: a deployer who meant the existing one ran mapay with another data folder."""
    print(
        f"注意：数据目录 {os.path.abspath(settings.data_dir)} 中没有数据库，已新建一个（还没有商户和账号）。"
        "若要使用已有的数据，请用项目里的 scripts/mapay（任意目录均可），或把 MAPAY_DATA_DIR 指向原来的数据目录。",
        file=sys.stderr,
    )


@asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[CliContext]:
    """Open the database (migrating it if needed) next to a possibly running server; WAL makes that safe."""
    check_data_folder(settings.data_dir)
    fresh = not settings.database_path.exists()
    box = load_secret_box(settings)
    async with Database(settings.database_path) as db:
        await sync_platforms(db, known_platforms(settings))
        yield CliContext(settings, db, box, MerchantBook(db, box), CodeBook(db, box), AccountBook(db, box))
    if fresh:  # after the command's own output; a command that failed says only why (its one line)
        say_new_database(settings)
