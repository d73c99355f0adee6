"""``demo``: run the self-contained demo until Ctrl-C (docs/demo.md)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING, Any

from agent.cli.context import CliContext
from agent.cli.output import fail

if TYPE_CHECKING:
    from agent.demo import Demo


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "demo", help="run simulated back offices, the gateway and a demo shop on 127.0.0.1; pay by clicking"
    )
    cmd.add_argument("--port", type=int, default=8000, help="port of the gateway and the demo shop (default 8000)")
    cmd.add_argument("--office-ports", type=int, metavar="FIRST", help=(
        "the six simulated back offices listen on FIRST to FIRST+5 (收钱吧, 码钱, 小Y经营, 数字门店, 拉卡拉, 盛付通); "
        "default: any free ports"))
    cmd.set_defaults(handler=run_demo)


def banner(demo: Demo) -> str:
    lines = [
        "",
        f"  mapay demo is running: open {demo.page_url}",
        "",
        f"  demo merchant    pid {demo.shop.merchant.pid}   key {demo.shop.merchant.key}",
        f"  epay endpoint    {demo.url}/mapi.php   (the demo shop orders through it)",
        *(f"  back office      {demo.offices[slug].url}   {a.title} (login {a.username}, QR terminal {a.terminal_id})"
          for slug, a in demo.accounts.items()),
        f"  data folder      {demo.data_dir} (temporary, deleted on exit)",
        "",
        "  Ctrl-C stops it.",
        "",
    ]
    return "\n".join(lines)


async def run_demo(ctx: CliContext, args: argparse.Namespace) -> int:
    from agent.demo import running_demo  # fixtures and the browser stack load only for this command

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running_demo(ctx.settings, port=args.port, office_ports=args.office_ports) as demo:
            print(banner(demo), flush=True)
            await stop.wait()
    except OSError as exc:
        ports = f"{args.port}" + (f" 或 {args.office_ports}-{args.office_ports + 5}" if args.office_ports else "")
        return fail(f"无法监听 127.0.0.1:{ports}（{exc.strerror or exc}）：端口可能被其他程序占用")
    print("demo stopped", flush=True)
    return 0
