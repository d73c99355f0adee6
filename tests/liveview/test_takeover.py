"""人工接管 end to end: 数字门店 asks "click the characters in order", which no solver reads; the account stops as
needs_human at once (no retries), the owner opens the take-over in the admin console on a phone, taps the
characters in order on the streamed page, and the next order is confirmed by the same running gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser

from agent.accounts import Account
from agent.admin.auth import create_admin
from agent.admin.plumbing import SESSION_COOKIE, admin_auth
from agent.alerts import messages
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS
from agent.liveview.takeover import TAKEOVERS
from agent.orders import get_order
from agent.providers.base import HealthState
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, quick_profiles
from tests.intake.epay_client import mapi
from tests.liveview.stream import click_at, click_through, wait_for_frames
from tests.support.eventually import eventually
from tests.support.gateway import running_gateway

pytestmark = pytest.mark.browser

USERNAME, PASSWORD = "13800000021", "Take-0ver-S3cret!"


async def test_a_person_solves_an_unreadable_captcha_through_the_console_and_orders_are_confirmed_again(
    tmp_path: Path, browser: Browser,
) -> None:
    settings = agent_settings(tmp_path / "data", browser_agent=True, host="127.0.0.1", port=0,
                              profiles_dir=quick_profiles(tmp_path / "profiles", element_timeout_seconds=3),
                              poll_interval_seconds=1)
    async with serve_fixture("zhihui") as office, aiohttp.ClientSession() as http, \
            running_gateway(settings) as gateway:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        await control.settings(captcha_kind="click")
        app = gateway.app
        merchant = await app[MERCHANTS].create("接管测试商户")
        account = await app[ACCOUNTS].add_account("zhihui", "门店一", USERNAME, PASSWORD, office.url)
        await app[CODES].add_code(account.id, payload="https://qr.example/takeover", terminal_id="T009")

        created = await mapi(gateway, merchant, money="10.00", type="wxpay")
        assert created["code"] == 1, created
        stuck = await eventually(lambda: _health(app, account.id, HealthState.NEEDS_HUMAN), within=40)
        assert stuck is not None and stuck.failure_class == "human_check" and stuck.offers_takeover
        await asyncio.sleep(3)  # three poll intervals: a stopped account is not tried again
        assert (await control.stats())["captchas_issued"] == 1  # one login page, no retries
        alert = messages.needs_human(messages.AccountFacts(
            account.id, stuck.name, "数字门店", stuck.health.value, stuck.health_reason, stuck.failing_since,
            stuck.failure_class), gateway.url)
        assert f"{gateway.url}/admin/accounts/{account.id}/takeover" in alert.body

        # The owner, on a phone, signed in to the console.
        await create_admin(app[DB], "boss", "correct horse battery")
        admin_id = await app[DB].fetchval("SELECT id FROM admins WHERE username = 'boss'")
        token = await admin_auth(gateway.settings, app[DB]).open_session(admin_id)
        phone = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                          device_scale_factor=2)
        await phone.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": f"{gateway.url}/admin/"}])
        viewer = await phone.new_page()
        await viewer.goto(f"{gateway.url}/admin/accounts/{account.id}")
        await viewer.locator("#takeover-button").tap()
        await viewer.wait_for_url(f"**/admin/accounts/{account.id}/takeover")
        await viewer.wait_for_selector("[data-liveview][data-state=live]")

        real = app[TAKEOVERS].current(account.id).view.page  # type: ignore[union-attr]
        await real.wait_for_selector("#click-captcha")
        await real.wait_for_function("document.querySelector('#password').value.length > 0")  # filled for them
        picture = await real.locator("#click-img").bounding_box()
        assert picture is not None
        await wait_for_frames(viewer)
        for x, y in (await control.captcha())["answer"]:  # the characters the page names, in its order
            await click_at(viewer, picture["x"] + x, picture["y"] + y, tap=True)
        await real.wait_for_function("JSON.parse(document.querySelector('#clicks').value).length === 3")
        await click_through(viewer, real, "#login-btn", tap=True)
        await viewer.wait_for_selector("[data-liveview][data-state=done]", timeout=20_000)
        await phone.close()

        await eventually(lambda: _health(app, account.id, HealthState.OK), within=10)
        assert await app[DB].fetchval("SELECT session_enc FROM accounts WHERE id = ?", (account.id,))
        order = await get_order(app[DB], created["trade_no"])
        assert order is not None
        await control.pay(order.pay_amount_fen, "wxpay", "T009")

        async def paid() -> bool:
            current = await get_order(app[DB], created["trade_no"])
            return current is not None and current.status == "paid"

        await eventually(paid, within=20)
        assert (await control.stats())["logins"] == 1  # the person's login; the reads reuse its session


async def _health(app: web.Application, account_id: int, health: HealthState) -> Account | None:
    account = await app[ACCOUNTS].account(account_id)
    return account if account.health is health else None
