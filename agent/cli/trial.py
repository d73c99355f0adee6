"""``mapay try`` and ``mapay try pay``: a paid test order without a provider account (agent/demo/trial.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from agent.cli.context import CliContext
from agent.cli.errors import CliProblem
from agent.cli.output import emit
from agent.demo.shop import OrderRefused
from agent.demo.trial import (
    ACCOUNT_NAME,
    MERCHANT_NAME,
    Trial,
    TrialProblem,
    newest_trial_order,
    pay_in_simulation,
    running_trial,
    wait_until_paid,
)
from agent.errors import NotFound
from agent.money import format_yuan
from agent.notify.outbox import JobStatus, notify_job
from agent.ops.doctor import default_cli
from agent.orders import OrderStatus, get_order
from agent.timefmt import format_local


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "try", help="试用：模拟收钱吧后台 + 试用商户 + 一笔测试订单（需要网关已在运行）；try pay 模拟付款",
    )
    cmd.set_defaults(handler=try_setup)
    actions = cmd.add_subparsers(dest="action")
    pay = actions.add_parser("pay", help="在模拟后台为最新的试用订单付款，并等待网关确认")
    pay.add_argument("trade_no", nargs="?", help="订单号（默认：试用商户最新的待支付订单）")
    pay.add_argument("--timeout", type=float, default=120.0, help="最多等待确认的秒数（默认 120）")
    pay.add_argument("--no-wait", action="store_true", help="记录付款后立即返回")
    pay.set_defaults(handler=try_pay)


def cli_name() -> str:
    """How the person called the CLI (scripts/mapay passes its path), for commands we print."""
    return os.environ.get("MAPAY_CLI") or default_cli()


def describe(trial: Trial, as_json: bool) -> None:
    order = trial.order
    if as_json:
        emit({"merchant_pid": trial.merchant.pid, "account_id": trial.account_id, "code_id": trial.code_id,
              "back_office": trial.office_url, "site": trial.site_url, "trade_no": order.trade_no,
              "out_trade_no": order.out_trade_no, "payurl": order.payurl, "started": list(trial.started),
              "pay_command": f"{cli_name()} try pay"}, as_json=True)
        return
    print("\n".join([
        f"试用环境已就绪（模拟收钱吧后台 {trial.office_url}，不会产生真实交易）",
        f"  商户      {MERCHANT_NAME}  pid {trial.merchant.pid}",
        f"  收款账号  #{trial.account_id} {ACCOUNT_NAME}",
        f"  收款码    #{trial.code_id}",
        "",
        f"测试订单 {order.out_trade_no}（{order.money} 元）",
        f"  收银台    {order.payurl}",
        "            在浏览器中打开，可以看到二维码与应付金额",
        f"  模拟付款  {cli_name()} try pay",
        "            在另一个终端运行：在模拟后台记录付款，网关几秒内读取确认，收银台自动跳转",
    ]), flush=True)


async def try_setup(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        async with running_trial(ctx.settings, ctx.db, ctx.merchants, ctx.accounts, ctx.codes) as trial:
            describe(trial, args.json)
            if trial.started:
                if not args.json:
                    print("\n模拟收钱吧后台与试用商户网站在本终端运行，保持它打开；Ctrl-C 停止。", flush=True)
                await _until_stopped()
    except (TrialProblem, OrderRefused) as exc:
        raise CliProblem(str(exc)) from None
    return 0


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def try_pay(ctx: CliContext, args: argparse.Namespace) -> int:
    order = await get_order(ctx.db, args.trade_no) if args.trade_no else await newest_trial_order(ctx.db, ctx.merchants)
    if order is None:
        what = f"订单 {args.trade_no} 不存在" if args.trade_no else "没有待支付的试用订单"
        raise CliProblem(f"{what}：先运行 {cli_name()} try 下一笔测试订单")
    if order.status is not OrderStatus.PENDING:
        raise CliProblem(f"订单 {order.trade_no} 已不是待支付状态（{order.status.value}）：运行 {cli_name()} try 再下一笔")
    try:
        provider_trade_no = await pay_in_simulation(ctx.accounts, ctx.codes, order)
    except (TrialProblem, NotFound) as exc:
        raise CliProblem(str(exc)) from None
    amount = format_yuan(order.pay_amount_fen)
    if not args.json:
        print(f"已在模拟后台记录一笔 {amount} 元的付款（流水号 {provider_trade_no}），等待网关读取并确认…", flush=True)
    if args.no_wait:
        emit({"trade_no": order.trade_no, "paid_in_simulation": provider_trade_no}, as_json=args.json)
        return 0
    try:
        async with asyncio.timeout(args.timeout):
            paid = await wait_until_paid(ctx.db, order.trade_no)
    except TimeoutError:
        account = await ctx.accounts.account(order.account_id)
        why = f"账号状态：{account.problem}" if account.problem else "账号状态正常，网关可能没有在运行"
        raise CliProblem(f"{args.timeout:g} 秒内订单 {order.trade_no} 没有被确认（{why}）。运行 {cli_name()} doctor 检查") from None
    emit({"trade_no": paid.trade_no, "status": "已支付", "paid_at": format_local(paid.paid_at), "pay_amount": amount},
         as_json=args.json)
    if not args.json:
        job = await notify_job(ctx.db, paid.trade_no)
        told = "商户网站已收到签名的支付结果通知并回复 success" if job and job.status == JobStatus.ACKED else "支付结果通知正在发送"
        print(f"✓ 付款已确认：收银台会自动跳转到商户页面，{told}。", flush=True)
    return 0
