"""Admin console fixtures: an administrator, and a Chromium page already signed in as them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.async_api import Page

from agent.admin.auth import create_admin
from agent.admin.plumbing import SESSION_COOKIE, admin_auth
from agent.appkeys import DB
from tests.support.gateway import RunningGateway

ADMIN_PASSWORD = "correct horse battery"


@dataclass
class Console:
    """A signed-in browser page on the running gateway's admin console."""

    page: Page
    gateway: RunningGateway

    def url(self, path: str) -> str:
        return f"{self.gateway.url}/admin{path}"

    async def open(self, path: str) -> None:
        response = await self.page.goto(self.url(path))
        assert response is not None and response.status == 200, (path, response and response.status)


async def sign_in(page: Page, gateway: RunningGateway, username: str, password: str) -> None:
    await page.goto(f"{gateway.url}/admin/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", password)
    await page.click("button[type=submit]")


@pytest.fixture
async def admin_name(gateway: RunningGateway) -> str:
    await create_admin(gateway.app[DB], "boss", ADMIN_PASSWORD)
    return "boss"


@pytest.fixture
async def console(page: Page, gateway: RunningGateway, admin_name: str) -> Console:
    """Signed in by a session opened directly (the sign-in form itself is tested in test_auth)."""
    db = gateway.app[DB]
    admin_id = await db.fetchval("SELECT id FROM admins WHERE username = ?", (admin_name,))
    token = await admin_auth(gateway.settings, db).open_session(admin_id)
    await page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": f"{gateway.url}/admin/"}])
    return Console(page, gateway)
