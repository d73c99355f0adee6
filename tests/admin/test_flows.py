"""Every admin action through real Chromium: what the administrator does and what the database then holds."""

from __future__ import annotations

import io

import aiohttp
import segno
from playwright.async_api import expect

from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS
from agent.db import now_ms
from agent.matching import match_account, record_transactions
from agent.merchants import Merchant
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.admin.conftest import Console
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.memory_provider import transaction


async def count(console: Console, table: str) -> int:
    return int(await console.gateway.app[DB].fetchval(f"SELECT count(*) FROM {table}"))


async def test_merchant_key_is_shown_once_and_can_be_rotated(console: Console) -> None:
    page = console.page
    await console.open("/merchants")
    await page.fill("#f-name", "我的发卡站")
    await page.click("#merchant-form button[type=submit]")
    key = (await page.locator("#merchant-key").inner_text()).strip()
    merchant = (await console.gateway.app[MERCHANTS].list())[0]
    assert key == merchant.key and len(key) == 32
    await expect(page.locator("#epay-example")).to_contain_text(f"pid={merchant.pid}")
    await console.open("/merchants")  # shown once: a fresh visit no longer has it
    assert key not in await page.content()

    page.on("dialog", lambda dialog: dialog.accept())
    await page.click(f"tr[data-pid='{merchant.pid}'] button")
    new_key = (await page.locator("#merchant-key").inner_text()).strip()
    assert new_key != key
    assert (await console.gateway.app[MERCHANTS].get(merchant.pid)).key == new_key  # type: ignore[union-attr]


async def test_add_account_against_simulated_back_office_and_test_its_login(console: Console) -> None:
    page = console.page
    async with serve_fixture("shouqianba") as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant("13800000001", "S3cret-pass!")
        paid = await control.pay(1234, channel="alipay", terminal_id="T9")
        await console.open("/accounts")
        await page.select_option("#f-platform", "shouqianba")
        await page.fill("#f-name", "一号店")
        await page.fill("#f-username", "13800000001")
        await page.fill("#f-password", "S3cret-pass!")
        await page.fill("#f-base_url", office.url)
        await page.click("#account-form button[type=submit]")
        await expect(page.locator(".notice.ok")).to_contain_text("账号已添加")
        assert "S3cret-pass!" not in await page.content()
        stored = await console.gateway.app[DB].fetchval("SELECT secret_enc FROM accounts")
        assert "S3cret-pass!" not in stored

        await page.click("#test-form button")
        result = page.locator("#test-result")
        await expect(result).to_contain_text("登录成功，读取到 1 笔收款", timeout=60_000)
        await expect(result).to_contain_text(paid["trade_no"])
        await expect(result).to_contain_text("12.34")
        await expect(page.locator("#account-health")).to_have_text("正常")


async def test_wrong_provider_password_shows_the_error_and_records_health(console: Console) -> None:
    page = console.page
    async with serve_fixture("shouqianba") as office, aiohttp.ClientSession() as http:
        await ControlClient(office.url, http).merchant("13800000002", "right-password")
        account = await console.gateway.app[ACCOUNTS].add_account(
            "shouqianba", "二号店", "13800000002", "wrong-password", office.url
        )
        await console.open(f"/accounts/{account.id}")
        await page.click("#test-form button")
        await expect(page.locator("#test-result")).to_contain_text("测试失败", timeout=60_000)
        await expect(page.locator("#account-health")).to_have_text("登录失败")


async def test_uploaded_qr_picture_is_decoded_and_shown(console: Console) -> None:
    page = console.page
    account = await console.gateway.app[ACCOUNTS].add_account("shouqianba", "三号店", "u3", "pw")
    payload = "https://qr.shouqianba.com/21000000123456"
    png = io.BytesIO()
    segno.make(payload, error="m").save(png, kind="png", scale=8)
    await console.open("/codes")
    await page.select_option("#f-account", str(account.id))
    await page.set_input_files("#f-image", {"name": "qr.png", "mimeType": "image/png", "buffer": png.getvalue()})
    await page.fill("#f-terminal_id", "T100")
    await page.fill("#f-daily_cap", "5000")
    await page.click("#code-form button[type=submit]")
    await expect(page.locator(".notice.ok")).to_have_text("收款码已添加")
    code = (await console.gateway.app[CODES].codes())[0]
    assert (code.payload, code.terminal_id, code.daily_cap_fen) == (payload, "T100", 500_000)
    row = page.locator(f"#code-{code.id}")
    await expect(row.locator(".code-payload")).to_have_text(payload)
    assert await row.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")

    await row.locator("button").click()  # 停用
    await expect(row).to_contain_text("停用")
    assert not (await console.gateway.app[CODES].code(code.id)).enabled


async def test_forms_reject_bad_input_next_to_the_field_and_change_nothing(console: Console) -> None:
    page = console.page
    await console.open("/merchants")
    await page.click("#merchant-form button[type=submit]")  # empty name; the browser check is bypassed below
    await page.evaluate("document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
    await page.click("#merchant-form button[type=submit]")
    await expect(page.locator("[data-error-for=name]")).to_have_text("请填写商户名称")

    await console.open("/accounts")
    await page.select_option("#f-platform", "hkrt")
    await page.fill("#f-name", "坏地址")
    await page.fill("#f-username", "u1")
    await page.fill("#f-password", "pw")
    await page.fill("#f-base_url", "ftp://example")
    await page.click("#account-form button[type=submit]")
    await expect(page.locator("[data-error-for=base_url]")).to_contain_text("http://")
    await expect(page.locator("#f-username")).to_have_value("u1")  # the typed values are kept
    account = await console.gateway.app[ACCOUNTS].add_account("hkrt", "好账号", "u2", "pw")

    await console.open("/codes")
    await page.select_option("#f-account", str(account.id))
    await page.set_input_files("#f-image", {"name": "x.png", "mimeType": "image/png", "buffer": b"not a picture"})
    await page.click("#code-form button[type=submit]")
    await expect(page.locator("[data-error-for=image]")).to_contain_text("未能识别")
    await page.fill("#f-payload", "https://qr.example/1")
    await page.fill("#f-daily_cap", "12.345")
    await page.click("#code-form button[type=submit]")
    await expect(page.locator("[data-error-for=daily_cap]")).to_contain_text("两位小数")

    await page.goto(console.url("/orders?amount=abc&date_from=yesterday"))
    await expect(page.locator("[data-error-for=amount]")).to_be_visible()
    await expect(page.locator("[data-error-for=date_from]")).to_contain_text("日期格式")
    assert (await count(console, "merchants"), await count(console, "accounts"), await count(console, "codes")) == (0, 1, 0)


async def test_order_goes_from_pending_to_paid_while_watched(console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    code = await add_code(app)
    order = await insert_order(app, merchant, code, money_fen=1000, pay_amount_fen=999)
    await console.open(f"/orders/{order.trade_no}")
    status = console.page.locator("#order-status")
    await expect(status).to_have_text("待支付")
    await record_transactions(app[DB], code.account_id, [transaction(999, now_ms(), terminal_id="T1")])
    assert await match_account(app[DB], code.account_id, skew_ms=30_000, grace_ms=600_000)
    await expect(status).to_have_text("已支付", timeout=10_000)  # the live region refreshes by itself
    await expect(console.page.locator("#timeline")).to_contain_text("匹配到平台收款")
    await expect(console.page.locator("#notify-status")).to_be_visible()


async def test_mark_paid_needs_a_reason_and_is_audited(console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    order = await insert_order(app, merchant, await add_code(app))
    page = console.page
    page.on("dialog", lambda dialog: dialog.accept())
    await console.open(f"/orders/{order.trade_no}")
    await page.click("#mark-paid-form button")
    await expect(page.locator("[data-error-for=reason]")).to_contain_text("补单原因")
    assert await app[DB].fetchval("SELECT status FROM orders") == "pending"

    await page.fill("#f-reason", "付款人提供截图，后台已核实")
    await page.click("#mark-paid-form button")
    await expect(page.locator("#action-done")).to_contain_text("已补单")
    await expect(page.locator("#order-status")).to_have_text("已支付")
    audit = await app[DB].fetchone("SELECT actor, action, detail FROM audit_log WHERE target = ?", (order.trade_no,))
    assert audit is not None and (audit["actor"], audit["action"]) == ("admin:boss", "order.mark_paid")
    assert "后台已核实" in audit["detail"]
    assert await app[DB].fetchval("SELECT status FROM notify_jobs WHERE trade_no = ?", (order.trade_no,)) == "pending"


async def test_resend_notify_requeues_a_failed_notify(console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    order = await insert_order(app, merchant, await add_code(app), status="paid")
    async with app[DB].transaction() as conn:
        await conn.execute(
            "INSERT INTO notify_jobs (trade_no, status, attempts, next_attempt_at, last_error, created_at, updated_at) "
            "VALUES (?, 'failed', 15, 0, 'HTTP 500', 0, 0)", (order.trade_no,),
        )
        await conn.execute(
            "INSERT INTO notify_attempts (trade_no, attempted_at, url, http_status, body_excerpt, outcome) "
            "VALUES (?, ?, 'http://127.0.0.1:9/notify', 500, 'server error', 'rejected')", (order.trade_no, now_ms()),
        )
    await console.open(f"/orders/{order.trade_no}")
    await expect(console.page.locator("#timeline")).to_contain_text("server error")
    await console.page.click("#resend")
    await expect(console.page.locator("#action-done")).to_contain_text("已重新发送通知")
    job = await eventually(lambda: app[DB].fetchone(
        "SELECT status, attempts FROM notify_jobs WHERE trade_no = ? AND attempts = 1", (order.trade_no,)
    ))  # sent again at once, on a fresh schedule: its first retry is ahead, not its sixteenth
    assert job is not None and job["status"] == "pending"
    assert await app[DB].fetchval("SELECT action FROM audit_log WHERE target = ?", (order.trade_no,)) == "notify.resend"


async def test_close_a_pending_order(console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    order = await insert_order(app, merchant, await add_code(app))
    console.page.on("dialog", lambda dialog: dialog.accept())
    await console.open(f"/orders/{order.trade_no}")
    await console.page.click("#close")
    await expect(console.page.locator("#order-status")).to_have_text("已关闭")
    assert await app[DB].fetchval("SELECT status FROM orders") == "closed"


async def test_attach_an_unmatched_payment_and_dismiss_another(console: Console, merchant: Merchant) -> None:
    app = console.gateway.app
    code = await add_code(app)
    order = await insert_order(app, merchant, code, money_fen=5000, status="expired")
    wrong = transaction(4990, now_ms(), terminal_id="T1")  # the payer typed a different amount
    stray = transaction(100, now_ms(), terminal_id="T1")
    await record_transactions(app[DB], code.account_id, [wrong, stray])
    ids = {row["provider_trade_no"]: row["id"] for row in await app[DB].fetchall("SELECT id, provider_trade_no FROM provider_transactions")}
    page = console.page
    page.on("dialog", lambda dialog: dialog.accept())
    await console.open("/unmatched")
    panel = page.locator(f"#tx-{ids[wrong.trade_no]}")
    await panel.locator("input[name=trade_no]").fill("NO-SUCH-ORDER")
    await panel.locator("form").first.locator("button").click()
    await expect(page.locator(f"#tx-{ids[wrong.trade_no]} [data-error-for=trade_no]")).to_have_text(
        "无法关联：订单 NO-SUCH-ORDER 不存在"
    )

    panel = page.locator(f"#tx-{ids[wrong.trade_no]}")
    await panel.locator("input[name=trade_no]").fill(order.trade_no)
    await panel.locator("form").first.locator("button").click()
    await expect(page.locator("#action-done")).to_contain_text("已关联")
    await page.locator(f"#tx-{ids[stray.trade_no]} button.danger").click()
    await expect(page.locator("#action-done")).to_contain_text("已忽略")
    await expect(page.locator(".empty")).to_have_text("没有未匹配的收款")
    db = app[DB]
    assert await db.fetchval("SELECT status FROM orders WHERE trade_no = ?", (order.trade_no,)) == "paid"
    assert await db.fetchval("SELECT count(*) FROM notify_jobs WHERE trade_no = ?", (order.trade_no,)) == 1
    rows = await db.fetchall("SELECT provider_trade_no, status FROM provider_transactions")
    statuses = {row["provider_trade_no"]: row["status"] for row in rows}
    assert statuses == {wrong.trade_no: "matched", stray.trade_no: "dismissed"}


async def test_a_duplicate_payment_is_shown_beside_the_order_it_duplicates(console: Console, merchant: Merchant) -> None:
    """The payer paid twice: the second payment confirms nothing and shows up on the first order's page."""
    app = console.gateway.app
    code = await add_code(app)
    order = await insert_order(app, merchant, code, money_fen=1000)
    first, again = transaction(1000, now_ms(), terminal_id="T1"), transaction(1000, now_ms() + 1, terminal_id="T1")
    await record_transactions(app[DB], code.account_id, [first])
    assert await match_account(app[DB], code.account_id, skew_ms=30_000, grace_ms=600_000)
    await record_transactions(app[DB], code.account_id, [first, again])
    assert await match_account(app[DB], code.account_id, skew_ms=30_000, grace_ms=600_000) == []
    await console.open(f"/orders/{order.trade_no}")
    stray = console.page.locator("[data-stray]")
    await expect(stray).to_contain_text("疑似重复付款")
    await expect(stray).to_contain_text(again.trade_no)
    await console.open("/unmatched")
    await expect(console.page.locator(f"[data-duplicate-of='{order.trade_no}']")).to_contain_text("疑似重复付款")
