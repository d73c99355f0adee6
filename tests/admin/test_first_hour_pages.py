"""The console as a deployer meets it first: settings in Chinese, the 部署检查 checklist, merchant names,
dates in 2026-01-31 form, a favicon."""

from __future__ import annotations

import aiohttp

from agent.admin.views.settings_page import docstring_html
from agent.merchants import Merchant
from agent.settings import Settings
from agent.settings_zh import DESCRIPTIONS
from tests.admin.conftest import Console
from tests.support.factories import add_code, insert_order


def test_every_setting_has_a_chinese_description() -> None:
    assert set(DESCRIPTIONS) == set(Settings.model_fields)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in DESCRIPTIONS.values())


def test_docstring_literals_become_code_and_nothing_else_is_markup() -> None:
    html = str(docstring_html("used in ``payurl``; <b>not</b> bold"))
    assert html == "used in <code>payurl</code>; &lt;b&gt;not&lt;/b&gt; bold"


async def test_settings_page_shows_chinese_and_folds_the_english(console: Console) -> None:
    await console.open("/settings")
    row = console.page.locator("#settings-table tr", has_text="MAPAY_PUBLIC_URL")
    assert "收银台链接" in await row.inner_text()
    assert not await row.locator("details.tech div").is_visible()
    assert "``" not in await console.page.content()
    assert await row.locator("details.tech code", has_text="payurl").count() == 1


async def test_dashboard_lists_what_is_missing_until_everything_passes(console: Console) -> None:
    await console.open("/")
    checklist = console.page.locator("#checklist")
    text = await checklist.inner_text()
    assert "✗ 商户" in text.replace("\n", " ") or "✗\n商户" in text or "商户：还没有启用的商户" in text
    assert "告警通知" in text and "MAPAY_ALERT_URLS" in text
    assert "✓" in text  # passed items are listed too (the data folder, the administrator signed in)


async def test_orders_show_the_merchant_name_and_take_dates_as_written_in_china(
    console: Console, merchant: Merchant
) -> None:
    code = await add_code(console.gateway.app)
    await insert_order(console.gateway.app, merchant, code, money_fen=1200, status="pending", name="会员")
    await console.open("/orders")
    assert merchant.name in await console.page.locator("#order-list tbody tr").first.inner_text()
    date_from = console.page.locator("#f-date_from")
    assert await date_from.get_attribute("type") == "text"  # not the browser's mm/dd/yyyy date picker
    assert "2026-01-31" in (await date_from.get_attribute("placeholder") or "")
    await console.open("/orders?date_from=2026-01-01&date_to=2099-12-31")
    assert await console.page.locator("#order-list tbody tr[data-trade-no]").count() == 1


async def test_the_account_test_button_names_the_cli_command_reading_the_same_window(console: Console) -> None:
    code = await add_code(console.gateway.app)
    await console.open(f"/accounts/{code.account_id}")
    text = await console.page.locator("#test-form").locator("xpath=..").inner_text()
    assert "最近 24 小时" in text and "--minutes 1440" in text


async def test_favicon_is_served(console: Console) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{console.gateway.url}/favicon.ico") as response:
        assert response.status == 200 and response.content_type == "image/svg+xml"
