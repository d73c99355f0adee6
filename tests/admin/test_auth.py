"""Sign-in, sessions, CSRF and lock-out of the admin console, through real HTTP and real Chromium."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import Page, expect

from agent.admin.auth import create_admin
from agent.appkeys import DB
from agent.settings import Settings
from tests.admin.conftest import ADMIN_PASSWORD, Console, sign_in
from tests.support.gateway import RunningGateway, running_gateway


async def test_signed_out_pages_redirect_to_sign_in(page: Page, gateway: RunningGateway) -> None:
    for path in ("/admin/", "/admin/orders", "/admin/settings", "/admin/merchants"):
        await page.goto(gateway.url + path)
        assert page.url.startswith(f"{gateway.url}/admin/login?next="), path


async def test_sign_in_and_out(page: Page, gateway: RunningGateway, admin_name: str) -> None:
    await page.goto(f"{gateway.url}/admin/settings")
    await page.fill("#f-username", admin_name)
    await page.fill("#f-password", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{gateway.url}/admin/settings")  # back where the visitor wanted to go
    cookie = next(c for c in await page.context.cookies() if c["name"] == "mapay_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    stored = await gateway.app[DB].fetchval("SELECT token_hash FROM admin_sessions")
    assert stored != cookie["value"] and len(stored) == 64  # only a digest of the token is kept

    await page.click("text=退出登录")
    await page.wait_for_url(re.compile(r".*/admin/login$"))
    assert await gateway.app[DB].fetchval("SELECT count(*) FROM admin_sessions") == 0
    await page.goto(f"{gateway.url}/admin/")
    assert "/admin/login" in page.url


async def test_wrong_password_is_refused_and_repeated_failures_make_the_client_wait(
    page: Page, settings: Settings
) -> None:
    async with running_gateway(settings.model_copy(update={"admin_max_failures": 2})) as gateway:
        await create_admin(gateway.app[DB], "boss", ADMIN_PASSWORD)
        await sign_in(page, gateway, "boss", "wrong password")
        await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
        await sign_in(page, gateway, "boss", "still wrong")
        await expect(page.locator("#login-error")).to_have_text("用户名或密码错误；错误次数过多，请 2 秒后再试")
        await sign_in(page, gateway, "boss", ADMIN_PASSWORD)  # even the right password waits out the delay
        await expect(page.locator("#login-error")).to_contain_text("密码错误次数过多，请")
        assert await gateway.app[DB].fetchval("SELECT count(*) FROM admin_sessions") == 0


async def test_post_without_csrf_token_or_session_is_refused(console: Console) -> None:
    gateway = console.gateway
    cookies = {c["name"]: c["value"] for c in await console.page.context.cookies()}
    async with (
        aiohttp.ClientSession(cookies=cookies) as http,
        http.post(f"{gateway.url}/admin/merchants", data={"name": "偷偷创建"}) as response,
    ):
        assert response.status == 403
        assert "CSRF" in await response.text()
    async with aiohttp.ClientSession() as http:  # signed out: no cookie at all
        async with http.post(f"{gateway.url}/admin/merchants", data={"name": "偷偷创建"}) as response:
            assert response.status == 403
        async with http.post(f"{gateway.url}/admin/login", data={"username": "boss", "password": ADMIN_PASSWORD}) as response:
            assert response.status == 403  # login CSRF: no double-submit cookie
    assert await gateway.app[DB].fetchval("SELECT count(*) FROM merchants") == 0
