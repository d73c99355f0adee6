"""Record every simulated platform in real Chromium as a person would, then let the draft (with only its
marked questions answered) confirm a payment through the full order -> payment -> notify loop."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from agent.accounts.otp import deliver_otp
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS
from agent.browser.agent import BrowserAgent
from agent.browser.runtime import BrowserRuntime
from agent.matching.confirm import match_account, record_transactions
from agent.notify import NOTIFIER
from agent.orders import get_order
from agent.profiles import load_profile
from agent.providers.base import Channel, NeedsHuman
from agent.recorder import Recorder, unresolved
from fixtures.client import ControlClient
from fixtures.server import serve_fixture
from tests.browser.conftest import agent_settings, runtime
from tests.intake.epay_client import mapi
from tests.recorder.person import PICTURE_LOADED, answer, fill_in, log_in_and_open_list, login_url
from tests.support.eventually import eventually
from tests.support.gateway import running_gateway
from tests.support.merchant_site import serve_merchant_site

pytestmark = pytest.mark.browser

__all__ = ["runtime"]  # the shared Chromium of the browser-agent tests, as a fixture here too

PLATFORMS = ("shouqianba", "ysepay", "zhihui", "lakala", "shengpay", "hkrt")
USERNAME, PASSWORD = "13800000002", "Rec0rding-S3cret!"
CHANNELS = ("alipay", "wxpay", "bank")


def files_containing(folder: Path, secret: str) -> list[Path]:
    needles = (secret.encode(), hashlib.md5(secret.encode()).hexdigest().encode())
    return [p for p in folder.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_recorded_draft_confirms_a_payment_end_to_end(
    platform: str, tmp_path: Path, browser: Browser, runtime: BrowserRuntime, capfd: pytest.CaptureFixture[str],
) -> None:
    drafts = tmp_path / "drafts"
    draft_path = drafts / f"{platform}.yaml"
    async with serve_fixture(platform) as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        earlier = [await control.pay(1000 + i * 7, CHANNELS[i % 3], f"T{i % 4:03d}") for i in range(12)]

        async with Recorder(platform, login_url(platform, office.url), out=draft_path, browser=browser) as rec:
            await log_in_and_open_list(platform, rec.page, control, USERNAME, PASSWORD)
            draft = await rec.finish()

        assert load_profile(draft_path).slug == platform  # the draft loads as written
        assert len(unresolved(draft_path.read_text(encoding="utf-8"))) == len(draft.decisions)
        fill_in(draft_path, answer(draft, earlier))
        assert unresolved(draft_path.read_text(encoding="utf-8")) == []

        settings = agent_settings(tmp_path / "data", profiles_dir=drafts, host="127.0.0.1", port=0)
        async with running_gateway(settings) as gateway:
            app = gateway.app
            merchant = await app[MERCHANTS].create("录制测试商户")
            account = await app[ACCOUNTS].add_account(platform, "录制的账号", USERNAME, PASSWORD, office.url)
            await app[CODES].add_code(account.id, payload="https://qr.example/recorded", terminal_id="T009")
            async with serve_merchant_site(merchant.key) as site:
                created = await mapi(gateway, merchant, notify_url=site.url, money="10.00", type="wxpay")
                assert created["code"] == 1, created
                order = await get_order(app[DB], created["trade_no"])
                assert order is not None
                site.expect(order.out_trade_no, "10.00")
                paid = await control.pay(order.pay_amount_fen, "wxpay", "T009")

                async with BrowserAgent(gateway.settings, app[DB], app[SECRETS], runtime=runtime) as agent:
                    provider = agent(await app[ACCOUNTS].credentials(account.id))
                    try:
                        await provider.login()
                    except NeedsHuman:
                        assert platform == "shengpay"
                        await deliver_otp(app[DB], app[SECRETS], account.id, await control.otp(USERNAME))
                        await provider.login()
                    now = datetime.now(UTC)
                    found = await provider.fetch_transactions(now - timedelta(hours=1), now + timedelta(seconds=5))

                assert {tx.trade_no for tx in found} == {p["trade_no"] for p in [*earlier, paid]}  # every page
                [mine] = [tx for tx in found if tx.trade_no == paid["trade_no"]]
                assert (mine.amount_fen, mine.channel, mine.terminal_id) == (order.pay_amount_fen, Channel.WXPAY, "T009")
                await record_transactions(app[DB], account.id, found)
                confirmed = await match_account(app[DB], account.id, skew_ms=30_000, grace_ms=600_000)
                assert [c.trade_no for c in confirmed] == [order.trade_no]
                app[NOTIFIER].wake()
                [notified] = await eventually(lambda: site.acknowledged, within=10)
        assert notified.params["out_trade_no"] == order.out_trade_no
        assert notified.params["money"] == "10.00"

    output = capfd.readouterr()
    assert PASSWORD not in output.out + output.err
    assert files_containing(tmp_path, PASSWORD) == []


async def test_a_refused_captcha_typed_again_is_one_captcha_step(tmp_path: Path, browser: Browser) -> None:
    async with serve_fixture("zhihui") as office, aiohttp.ClientSession() as http:
        control = ControlClient(office.url, http)
        await control.merchant(USERNAME, PASSWORD)
        await control.pay(1500, "alipay", "T001")
        async with Recorder("zhihui", login_url("zhihui", office.url), out=tmp_path / "zhihui.yaml",
                            browser=browser) as rec:
            page = rec.page
            await page.fill("#username", USERNAME)
            await page.fill("#password", PASSWORD)
            await page.wait_for_function(PICTURE_LOADED, arg="#captcha-img")
            async with page.expect_navigation():
                await page.fill("#captcha", "0000")  # 0 is not in the captcha charset: always refused
                await page.click("#login-btn")
            await page.wait_for_function(PICTURE_LOADED, arg="#captcha-img")  # the form again, a new picture
            await page.fill("#password", PASSWORD)
            await page.fill("#captcha", str((await control.captcha())["answer"]))
            await page.click("#login-btn")
            await page.wait_for_url("**/transactions*")
            draft = await rec.finish()
    steps = draft.data["login"]["steps"]
    assert [next(iter(step)) for step in steps] == ["goto", "fill", "fill", "captcha", "click"]
    assert steps[3]["captcha"]["image"] == {"response": "**/captcha.png*"}
