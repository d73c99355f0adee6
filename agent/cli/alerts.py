"""``alert test``: send one test alert to every configured channel now, and say which ones took it."""

from __future__ import annotations

import argparse
from typing import Any

from agent.alerts import channels, messages
from agent.alerts.channels import Outcome
from agent.cli.context import CliContext
from agent.cli.output import emit, fail

OUTCOME_TEXT = {
    Outcome.SENT: "发送成功",
    Outcome.FAILED: "发送失败",
    Outcome.TIMEOUT: "发送超时",
    Outcome.INVALID: "无法识别的地址",
}


def register(commands: Any) -> None:
    alert = commands.add_parser("alert", help="owner alerts (MAPAY_ALERT_URLS)").add_subparsers(
        dest="action", required=True
    )
    test = alert.add_parser("test", help="send a test alert to every configured URL and report each one")
    test.set_defaults(handler=alert_test)


async def alert_test(ctx: CliContext, args: argparse.Namespace) -> int:
    """Synchronous on purpose: the person who just set the URLs wants the answer, not a queued message."""
    urls = ctx.settings.alert_urls
    if not urls:
        return fail("未配置告警通道：请设置 MAPAY_ALERT_URLS（Apprise URL，多个用空格或逗号分隔）")
    channels.quiet_apprise_logging()
    with channels.Channels(urls) as configured:
        deliveries = await configured.deliver(messages.channel_check(), ctx.settings.alert_send_timeout_seconds)
    rows = [
        {"channel": d.label, "service": d.service, "ok": d.ok, "outcome": d.outcome.value,
         "result": OUTCOME_TEXT[d.outcome]}
        for d in deliveries
    ]
    emit(rows, as_json=args.json, columns=("channel", "service", "result"))
    sent = sum(d.ok for d in deliveries)
    if sent == 0:
        return fail(f"{len(deliveries)} 个告警通道全部发送失败，请检查 MAPAY_ALERT_URLS 和网络")
    return 0
