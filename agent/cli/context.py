"""Resources a CLI command works with: the same database and secret box the server uses."""

from __future__ import annotations

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


@asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[CliContext]:
    """Open the database (migrating it if needed) next to a possibly running server; WAL makes that safe."""
    check_data_folder(settings.data_dir)
    box = load_secret_box(settings)
    async with Database(settings.database_path) as db:
        await sync_platforms(db, known_platforms(settings))
        yield CliContext(settings, db, box, MerchantBook(db, box), CodeBook(db, box), AccountBook(db, box))
