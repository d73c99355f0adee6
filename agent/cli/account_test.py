"""``mapay account test ID``: log in as the account and print its recent payments, saying each step as it happens.

The same steps as :func:`agent.browser.agent.test_account` (the admin console's 测试登录), spelled out here so a
person at the terminal sees where a slow or failing login is: Chromium starting, the login, a one-time code,
the read. Progress goes to standard error, the transactions to standard output (``--json`` stays clean).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from agent.accounts.failures import classify
from agent.accounts.otp import deliver_otp
from agent.browser.agent import BrowserAgent
from agent.cli.context import CliContext
from agent.cli.output import emit, fail
from agent.errors import NotFound
from agent.money import format_yuan
from agent.platforms import known_platforms
from agent.providers.base import NeedsHuman, ProviderError
from agent.timefmt import SHANGHAI


class Steps:
    """Prints ``[n] what…`` when a step starts and ``    done (1.2 s)`` when it ends."""

    def __init__(self) -> None:
        self._n = 0
        self._started = time.monotonic()

    def start(self, what: str) -> None:
        self._n += 1
        self._started = time.monotonic()
        print(f"[{self._n}] {what}…", file=sys.stderr, flush=True)

    def detail(self, what: str) -> None:
        """A step inside the current one (each login step of the profile as it starts)."""
        print(f"    · {what}", file=sys.stderr, flush=True)

    def done(self, what: str = "完成") -> None:
        print(f"    {what}（{time.monotonic() - self._started:.1f} 秒）", file=sys.stderr, flush=True)


async def account_test(ctx: CliContext, args: argparse.Namespace) -> int:
    steps = Steps()
    try:
        credentials = await ctx.accounts.credentials(args.id)
    except (LookupError, NotFound) as exc:
        return fail(str(exc))
    names = {p.slug: p.name for p in known_platforms(ctx.settings)}
    window = timedelta(minutes=args.minutes)
    steps.start("准备浏览器代理" + ("（有界面）" if args.headed else ""))
    try:
        async with BrowserAgent(ctx.settings, ctx.db, ctx.box, headless=not args.headed,
                                on_login_step=lambda _, label: steps.detail(label)) as agent:
            provider = agent(credentials)
            steps.done()
            where = credentials.base_url or "平台默认地址"
            steps.start(f"启动 Chromium，登录{names.get(credentials.platform, credentials.platform)}后台 {where}（账号 {credentials.username}）")
            try:
                await provider.login()
            except NeedsHuman:
                steps.done("服务商要求短信验证码")
                if not sys.stdin.isatty():
                    raise ProviderError("需要短信验证码：请在终端中交互运行，或用 mapay account otp 提交") from None
                code = await asyncio.to_thread(input, "短信验证码：")
                await deliver_otp(ctx.db, ctx.box, args.id, code)
                steps.start("用短信验证码登录")
                await provider.login()
            steps.done("登录成功")
            steps.start(f"读取最近 {args.minutes} 分钟的收款记录")
            now = datetime.now(UTC)
            transactions = await provider.fetch_transactions(now - window, now)
            steps.done(f"读取到 {len(transactions)} 笔")
    except ProviderError as exc:
        print("    失败", file=sys.stderr)
        return fail(_failed(exc))
    rows = [
        {"trade_no": t.trade_no, "amount": format_yuan(t.amount_fen), "channel": t.channel.value,
         "paid_at": t.paid_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), "terminal_id": t.terminal_id}
        for t in transactions
    ]
    emit(rows, as_json=args.json)
    return 0


def _failed(exc: ProviderError) -> str:
    """The Chinese reason first (as the admin console's 测试登录 says it), the provider's own words after it."""
    if type(exc) is ProviderError:  # raised above with a Chinese message of its own
        return f"测试失败：{exc}"
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"测试失败：{classify(exc).reason}（{detail}）"
