"""Editing accounts and codes after they were added: what the administrator changes, and what is refused."""

from __future__ import annotations

import aiohttp
from playwright.async_api import expect

from agent.accounts import classify
from agent.appkeys import ACCOUNTS, CODES, DB
from agent.merchants import Merchant
from agent.providers.base import AuthFailed, HealthState
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.admin.conftest import Console
from tests.support.factories import add_code, insert_order

USERNAME = "13800000009"
PASSWORD = "Right-pass-9!"


async def _stored(console: Console, table: str, row_id: int) -> dict[str, object]:
    row = await console.gateway.app[DB].fetchone(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
    assert row is not None
    return dict(row)


async def test_new_password_and_address_fix_a_failed_login(console: Console) -> None:
    page, accounts = console.page, console.gateway.app[ACCOUNTS]
    async with serve_fixture("shouqianba") as office, aiohttp.ClientSession() as http:
        await ControlClient(office.url, http).merchant(USERNAME, PASSWORD)
        account = await accounts.add_account("shouqianba", "旧名字", USERNAME, "typo-pass", "http://127.0.0.1:9")
        await accounts.record_failure(account.id, classify(AuthFailed("密码错误")))
        await console.open(f"/accounts/{account.id}")
        await expect(page.locator("#account-health")).to_have_text("登录失败")
        await expect(page.locator("#f-base_url")).to_have_value("http://127.0.0.1:9")

        await page.fill("#f-name", "一号店")
        await page.fill("#f-base_url", office.url + "/")
        await page.fill("#f-password", PASSWORD)
        await page.click("#account-edit-form button[type=submit]")
        await expect(page.locator(".notice.ok")).to_have_text("账号信息已保存")
        await expect(page.locator("h1")).to_have_text("账号：一号店")
        await expect(page.locator("#account-health")).to_have_text("正常")  # new credentials: try again
        assert PASSWORD not in await page.content()
        credentials = await accounts.credentials(account.id)
        assert (credentials.password, credentials.base_url) == (PASSWORD, office.url)
        stored = await _stored(console, "accounts", account.id)
        assert PASSWORD not in str(stored["secret_enc"])
        audit = await console.gateway.app[DB].fetchone("SELECT actor, action, detail FROM audit_log WHERE target = ?", (str(account.id),))
        assert audit is not None and (audit["actor"], audit["action"]) == ("admin:boss", "account.update")
        assert '"password"' in audit["detail"] and PASSWORD not in audit["detail"]

        await page.click("#test-form button")  # the new credentials really log in
        await expect(page.locator("#test-result")).to_contain_text("登录成功", timeout=60_000)


async def test_bad_account_edits_are_shown_at_the_field_and_change_nothing(console: Console) -> None:
    page, accounts = console.page, console.gateway.app[ACCOUNTS]
    account = await accounts.add_account("hkrt", "二号店", "u2", "old-pass", "http://127.0.0.1:9")
    await accounts.record_failure(account.id, classify(AuthFailed("密码错误")))
    before = await _stored(console, "accounts", account.id)
    await console.open(f"/accounts/{account.id}")
    await page.fill("#f-base_url", "ftp://example")
    await page.fill("#f-password", "new-pass")
    await page.click("#account-edit-form button[type=submit]")
    await expect(page.locator("[data-error-for=base_url]")).to_contain_text("http://")
    await expect(page.locator("#f-base_url")).to_have_value("ftp://example")  # what was typed stays
    await page.fill("#f-base_url", "")
    await page.fill("#f-name", "")
    await page.evaluate("document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
    await page.click("#account-edit-form button[type=submit]")
    await expect(page.locator("[data-error-for=name]")).to_have_text("请填写账号名称")
    assert await _stored(console, "accounts", account.id) == before
    assert await console.gateway.app[DB].fetchval("SELECT count(*) FROM audit_log") == 0

    await page.fill("#f-name", "二号店")
    await page.click("#account-edit-form button[type=submit]")  # an empty address: back to the default
    await expect(page.locator(".notice.ok")).to_have_text("账号信息已保存")
    updated = await accounts.account(account.id)
    assert updated.base_url is None and updated.health is HealthState.OK


async def test_code_label_terminal_and_daily_cap_can_be_changed(console: Console, merchant: Merchant) -> None:
    app, page = console.gateway.app, console.page
    code = await add_code(app, terminal_id="T1")
    await console.open("/codes")
    await page.click(f"#code-{code.id} a.edit-code")
    await page.fill("#f-label", "收银台左")
    await page.fill("#f-terminal_id", "T2")
    await page.fill("#f-daily_cap", "800")
    await page.click("#code-edit-form button[type=submit]")
    await expect(page.locator(".notice.ok")).to_have_text("收款码已保存")
    await expect(page.locator("#code-cap")).to_have_text("¥800.00")
    changed = await app[CODES].code(code.id)
    assert (changed.label, changed.terminal_id, changed.daily_cap_fen) == ("收银台左", "T2", 80_000)
    audit = await app[DB].fetchone("SELECT action, detail FROM audit_log WHERE target = ?", (str(code.id),))
    assert audit is not None and audit["action"] == "code.update"

    await page.fill("#f-daily_cap", "12.345")
    await page.click("#code-edit-form button[type=submit]")
    await expect(page.locator("[data-error-for=daily_cap]")).to_contain_text("两位小数")
    await page.fill("#f-daily_cap", "")
    await page.click("#code-edit-form button[type=submit]")
    await expect(page.locator("#code-cap")).to_have_text("不限")
    assert (await app[CODES].code(code.id)).daily_cap_fen is None

    await insert_order(app, merchant, changed)  # priced unique in T2's scope
    await page.fill("#f-terminal_id", "T3")
    await page.fill("#f-label", "不应保存")
    await page.click("#code-edit-form button[type=submit]")
    await expect(page.locator("[data-error-for=terminal_id]")).to_contain_text("待支付的订单")
    kept = await app[CODES].code(code.id)
    assert (kept.label, kept.terminal_id) == ("收银台左", "T2")
