"""The app starts on a real socket, migrates a real SQLite file, and Chromium renders a page."""

from __future__ import annotations

from playwright.async_api import Page

from agent.appkeys import DB
from tests.support.gateway import RunningGateway


async def test_database_is_migrated_on_start(gateway: RunningGateway) -> None:
    db = gateway.app[DB]
    assert await db.fetchval("SELECT max(version) FROM schema_migrations") >= 1
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert gateway.settings.database_path.exists()
    assert await db.fetchval("SELECT count(*) FROM platforms") >= 6


async def test_chromium_opens_a_loopback_page(page: Page, gateway: RunningGateway) -> None:
    response = await page.goto(gateway.url + "/nonexistent")
    assert response is not None and response.status == 404
