"""``mapay try``: a simulated provider account in the deployer's own gateway, to see a payment go through.

Unlike ``mapay demo`` (everything in one process on a throw-away data folder), this sets up the real data
folder that ``./scripts/run`` serves: a simulated 收钱吧 back office on loopback (``fixtures``), an account
pointing at it, one QR code, a test merchant, and a signed order placed through the running gateway's
``mapi.php``. The order then shows in the admin console and the CLI like any other.

Processes: the simulated back office keeps its merchants and payments in memory, so it lives in the process
that started it. The first ``mapay try`` starts it (and the test merchant's notify receiver, the
"site") and stays in the foreground; a second ``mapay try`` while it runs reuses both and exits. Every run
creates the back office's merchant login again with the account's password, so a restarted simulation
(or gateway) needs nothing more than ``mapay try`` once more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from agent.accounts import AccountBook
from agent.codes import CodeBook
from agent.db import Database
from agent.demo.shop import DemoShop, ShopOrder
from agent.demo.trial_site import serve_site
from agent.merchants import Merchant, MerchantBook
from agent.notify.outbox import JobStatus, notify_job
from agent.orders import Order, OrderStatus, get_order
from agent.orders.queries import latest_orders
from agent.providers.base import HealthState
from agent.settings import Settings
from fixtures.client import ControlClient
from fixtures.server import serve_fixture

PLATFORM = "shouqianba"  # no captcha, no SMS: the quickest login
USERNAME = "13800000000"
PASSWORD = "try-mapay-123"  # a simulated login on loopback; nothing real is behind it
ACCOUNT_NAME = "模拟收钱吧（试用）"
MERCHANT_NAME = "试用商户"
TERMINAL = "TRY01"
MONEY = "1.00"


class TrialProblem(Exception):
    """Something stops the trial; ``str()`` says what to do, in Chinese."""


@dataclass(frozen=True, slots=True)
class Trial:
    merchant: Merchant
    account_id: int
    code_id: int
    office_url: str
    site_url: str
    order: ShopOrder
    started: tuple[str, ...]  # what this process started and keeps running ("back office", "site")


def gateway_url(settings: Settings) -> str:
    """Where this machine reaches its own gateway (a public URL may point at a proxy)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


async def answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
            return response.status < 500
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


@contextlib.asynccontextmanager
async def running_trial(settings: Settings, db: Database, merchants: MerchantBook, accounts: AccountBook,
                        codes: CodeBook) -> AsyncIterator[Trial]:
    """Set up (or reuse) the trial and place one test order; what was started runs until the block ends."""
    office_url = f"http://127.0.0.1:{settings.try_back_office_port}"
    site_url = f"http://127.0.0.1:{settings.try_site_port}"
    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as stack:
        if not await answers(http, gateway_url(settings) + "/"):
            raise TrialProblem(f"网关没有运行（{gateway_url(settings)} 无响应）：请先在另一个终端运行 ./scripts/run")
        merchant = await _merchant(merchants)
        started: list[str] = []
        if not await answers(http, office_url + "/__control/stats"):
            await stack.enter_async_context(_serving(serve_fixture(PLATFORM, port=settings.try_back_office_port),
                                                     settings.try_back_office_port))
            started.append("back office")
        if not await answers(http, site_url + "/"):
            await stack.enter_async_context(_serving(serve_site(settings.try_site_port, merchants),
                                                     settings.try_site_port))
            started.append("site")
        await ControlClient(office_url, http).merchant(USERNAME, PASSWORD)
        account_id = await _account(accounts, office_url)
        code_id = await _code(codes, account_id)
        shop = DemoShop(merchant, gateway_url(settings), site_url=site_url, number_prefix="TRY")
        order = await shop.place_order(http, MONEY, "mapay 试用订单", "alipay")
        yield Trial(merchant, account_id, code_id, office_url, site_url, order, tuple(started))


@contextlib.asynccontextmanager
async def _serving(server: contextlib.AbstractAsyncContextManager[object], port: int) -> AsyncIterator[None]:
    try:
        async with server:
            yield
    except OSError as exc:
        raise TrialProblem(f"无法监听 127.0.0.1:{port}（{exc.strerror or exc}）：端口被其他程序占用，"
                           "请用 MAPAY_TRY_BACK_OFFICE_PORT / MAPAY_TRY_SITE_PORT 换一个端口") from None


async def _merchant(merchants: MerchantBook) -> Merchant:
    found = next((m for m in await merchants.list() if m.name == MERCHANT_NAME and m.enabled), None)
    return found or await merchants.create(MERCHANT_NAME)


async def _account(accounts: AccountBook, office_url: str) -> int:
    """The trial account (added once); a refused or failing one is given its password again and read now."""
    for account in await accounts.accounts():
        if account.platform == PLATFORM and account.base_url == office_url and account.username == USERNAME:
            if not account.enabled:
                await accounts.set_account_enabled(account.id, True)
            if account.health is not HealthState.OK:
                await accounts.update_account(account.id, password=PASSWORD)
                await accounts.request_probe(account.id)
            return account.id
    added = await accounts.add_account(PLATFORM, ACCOUNT_NAME, USERNAME, PASSWORD, office_url)
    return added.id


async def _code(codes: CodeBook, account_id: int) -> int:
    existing = [c for c in await codes.codes(account_id) if c.enabled]
    if existing:
        return existing[0].id
    code = await codes.add_code(account_id, payload=f"https://example.com/mapay-try/{TERMINAL}",
                                terminal_id=TERMINAL, label="试用收款码")
    return code.id


async def newest_trial_order(db: Database, merchants: MerchantBook) -> Order | None:
    """The test merchant's newest pending order, the one ``mapay try pay`` pays when given no trade number."""
    merchant = next((m for m in await merchants.list() if m.name == MERCHANT_NAME), None)
    if merchant is None:
        return None
    found = await latest_orders(db, limit=1, pid=merchant.pid, status=OrderStatus.PENDING)
    return found[0] if found else None


async def pay_in_simulation(accounts: AccountBook, codes: CodeBook, order: Order) -> str:
    """Record the order's exact payable amount on its account's simulated back office; the provider trade no."""
    account = await accounts.account(order.account_id)
    code = await codes.code(order.code_id)
    if not account.base_url:
        raise TrialProblem(f"订单 {order.trade_no} 的收款账号 {account.name} 是真实账号，不能模拟付款")
    async with aiohttp.ClientSession() as http:
        try:
            payment = await ControlClient(account.base_url, http).pay(
                order.pay_amount_fen, order.type or "alipay", code.terminal_id, username=account.username
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise TrialProblem(f"模拟后台 {account.base_url} 无法连接（{exc}）：请先运行 mapay try，并保持它运行") from None
    return str(payment["trade_no"])


async def wait_until_paid(db: Database, trade_no: str, *, poll: float = 1.0) -> Order:
    """The order once paid (its notify given a moment to be acknowledged); the caller bounds the wait."""
    while True:
        order = await get_order(db, trade_no)
        if order is not None and order.status is OrderStatus.PAID:
            for _ in range(10):  # the notify goes out right after confirmation
                job = await notify_job(db, trade_no)
                if job is not None and job.status != JobStatus.PENDING:
                    break
                await asyncio.sleep(0.5)
            return order
        await asyncio.sleep(poll)
