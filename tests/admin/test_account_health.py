"""The accounts page says what is wrong in Chinese, when it last failed, keeps the detail folded, and
立即重试 makes the running scheduler read the account now, also after a refused login."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import expect

from agent.accounts import classify
from agent.appkeys import ACCOUNTS, DB
from agent.providers.base import AuthFailed, TransientError
from agent.settings import Settings
from agent.timefmt import format_local
from tests.admin.conftest import Console
from tests.support.eventually import eventually
from tests.support.factories import add_code
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.memory_provider import MemoryBackOffice

DETAIL = "login[0].goto(/login): Page.goto: net::ERR_NAME_NOT_RESOLVED at https://s.shouqianba.com/login"


@pytest.fixture
def office() -> MemoryBackOffice:
    return MemoryBackOffice()


@pytest.fixture
async def gateway(settings: Settings, office: MemoryBackOffice) -> AsyncIterator[RunningGateway]:
    """Probes far apart, so only 立即重试 can explain a read soon after the failure."""
    slow = settings.model_copy(update={"probe_backoff_first_seconds": 600.0})
    async with running_gateway(slow, provider_factory=office) as running:
        yield running


async def test_the_reason_is_chinese_with_the_latest_failure_time_and_the_detail_folded(console: Console) -> None:
    app = console.gateway.app
    account_id = (await add_code(app)).account_id
    await app[ACCOUNTS].record_failure(account_id, classify(TransientError(DETAIL)))
    first, latest = 1_700_000_000_000, 1_700_000_600_000
    async with app[DB].transaction() as conn:
        await conn.execute("UPDATE accounts SET failing_since = ?, failure_at = ? WHERE id = ?", (first, latest, account_id))
    await console.open("/accounts")
    row = console.page.locator(f"tr[data-account='{account_id}']")
    await expect(row.locator(".problem-reason")).to_have_text("无法连接服务商后台")
    await expect(row.locator(".problem-at")).to_have_text(f"最近失败 {format_local(latest)}")
    detail = row.locator(".problem-detail")
    await expect(detail.get_by_text("ERR_NAME_NOT_RESOLVED", exact=False)).to_be_hidden()
    await detail.locator("summary").click()
    await expect(detail.get_by_text("ERR_NAME_NOT_RESOLVED", exact=False)).to_be_visible()
    assert format_local(first) not in await row.inner_text()


async def test_retry_now_reads_a_refused_account_at_once(console: Console, office: MemoryBackOffice) -> None:
    app = console.gateway.app
    account_id = (await add_code(app)).account_id
    await app[ACCOUNTS].record_failure(account_id, classify(AuthFailed("密码错误")))
    await console.open("/accounts")
    row = console.page.locator(f"tr[data-account='{account_id}']")
    await expect(row.locator(".problem-reason")).to_have_text("登录被拒绝，请检查密码")
    assert office.logins[account_id] == 0  # a refused login is never retried on its own
    await row.get_by_role("button", name="立即重试").click()
    await expect(console.page.locator(".notice.ok")).to_have_text("已请求立即重试，稍后刷新查看结果")
    await eventually(lambda: office.fetches[account_id] >= 1, within=3)
    await console.open("/accounts")
    await expect(row.locator(".badge").nth(1)).to_have_text("正常")
    await expect(row.get_by_role("button", name="立即重试")).to_have_count(0)
    audit = await app[DB].fetchval("SELECT action FROM audit_log WHERE target = ?", (str(account_id),))
    assert audit == "account.retry"


async def test_retry_now_needs_the_csrf_token(console: Console, office: MemoryBackOffice) -> None:
    app = console.gateway.app
    account_id = (await add_code(app)).account_id
    response = await console.page.request.post(console.url(f"/accounts/{account_id}/retry"), form={"back": "list"})
    assert response.status == 403
    assert await app[DB].fetchval("SELECT probe_requested_at FROM accounts WHERE id = ?", (account_id,)) is None
