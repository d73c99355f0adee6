"""``record`` (a maintainer logs in once, a draft profile is written) and ``profile check``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.cli.context import CliContext
from agent.cli.output import emit, fail
from agent.money import format_yuan
from agent.recorder import Recorder, RecordingError
from agent.recorder.check import CheckReport, check_profile
from agent.recorder.live import record_in_live_view

RECORD_HELP = """\
Log in on the page as usual (type the account and password, solve the captcha, type the SMS code),
open the transaction list and go to its next page once. Then press Enter here (or close the window).
The password is never written: the draft uses {password} placeholders."""


def register(commands: Any) -> None:
    record = commands.add_parser(
        "record", help="record a platform's profile by logging in once in Chromium",
        description="Opens Chromium on the login page; you log in and open the transaction list, mapay writes the "
                    "draft profile. On a desktop (DISPLAY or WAYLAND_DISPLAY set) the browser is a window. Without "
                    "one (a server, ssh) it runs headless and mapay prints a one-time http://127.0.0.1 URL: open it "
                    "in any browser (over ssh: ssh -L PORT:127.0.0.1:PORT) and use the page shown there.")
    record.add_argument("name", help="the platform slug (the profile's file name)")
    record.add_argument("--url", required=True, help="the back office's login page")
    record.add_argument("--out", type=Path, help="where to write the draft (default: profiles/NAME.yaml)")
    record.add_argument("--headed", action="store_true",
                        help="has no effect: a window is shown whenever there is a display (kept for older scripts)")
    record.add_argument("--port", type=int, default=0,
                        help="without a display: the loopback port of the live view (default: a free one)")
    record.set_defaults(handler=record_profile)

    profile = commands.add_parser("profile", help="platform profiles").add_subparsers(dest="action", required=True)
    check = profile.add_parser("check", help="run a profile against an account: each step, what it read")
    check.add_argument("name", help="profile slug in the profiles folder, or a path to a .yaml file")
    check.add_argument("--account", type=int, required=True, help="account id (see: mapay account list)")
    check.add_argument("--minutes", type=int, default=60, help="how far back to read transactions")
    check.add_argument("--headed", action="store_true", help="show the browser")
    check.set_defaults(handler=profile_check)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


async def _person_finishes(recorder: Recorder) -> None:
    """Enter on the terminal, or the browser tab closed."""
    loop = asyncio.get_running_loop()
    entered: asyncio.Future[None] = loop.create_future()

    def enter() -> None:
        if not entered.done():
            entered.set_result(None)

    loop.add_reader(sys.stdin.fileno(), enter)
    closed = asyncio.ensure_future(recorder.closed())
    try:
        await asyncio.wait({entered, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(sys.stdin.fileno())
        closed.cancel()


async def record_profile(ctx: CliContext, args: argparse.Namespace) -> int:
    windowed = _has_display()
    out: Path = args.out or ctx.settings.profile_dirs[0] / f"{args.name}.yaml"
    if out.stem != args.name:
        return fail(f"输出文件名必须与平台标识一致：--out 应为 {args.name}.yaml")
    try:
        async with Recorder(args.name, args.url, out=out, headless=not windowed,
                            chromium_path=ctx.settings.chromium_path) as recorder:
            if windowed:
                print(RECORD_HELP, file=sys.stderr)
                await _person_finishes(recorder)
            else:  # no display: the same page, shown in a live view on a loopback URL
                await record_in_live_view(recorder, port=args.port,
                                          tell=lambda line: print(line, file=sys.stderr, flush=True))
            draft = await recorder.finish()
    except RecordingError as exc:
        return fail(str(exc))
    summary = {"profile": args.name, "path": str(out), "records_seen": len(draft.records),
               "questions": [f"{d.path}: {d.question}" for d in draft.decisions], "notes": draft.notes}
    emit(summary if args.json else [f"draft written to {out}", *(f"TODO {q}" for q in summary["questions"]),
                                    f"next: mapay profile check {args.name} --account ID"], as_json=args.json)
    return 0


async def _ask_otp() -> str:
    print("one-time code sent by the provider: ", end="", file=sys.stderr, flush=True)
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


async def profile_check(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        report = await check_profile(ctx.settings, ctx.db, ctx.box, args.name, args.account, headed=args.headed,
                                     window=timedelta(minutes=args.minutes), ask_otp=_ask_otp)
    except LookupError as exc:
        return fail(str(exc))
    if args.json:
        emit(_as_data(report), as_json=True)
    else:
        _print_report(report)
    return 0 if report.ok and not report.unresolved else 1


def _rows(report: CheckReport) -> list[dict[str, Any]]:
    return [{"trade_no": tx.trade_no, "amount": format_yuan(tx.amount_fen), "channel": tx.channel.value,
             "paid_at": tx.paid_at.isoformat(), "terminal": tx.terminal_id} for tx in report.transactions]


def _as_data(report: CheckReport) -> dict[str, Any]:
    return {"profile": report.profile, "account": report.account_id, "base_url": report.base_url, "ok": report.ok,
            "steps": report.steps, "failed_step": report.failed_step, "error": report.error,
            "snapshot": str(report.snapshot) if report.snapshot else None, "unresolved": report.unresolved,
            "transactions": _rows(report)}


def _print_report(report: CheckReport) -> None:
    print(f"profile {report.profile} against account {report.account_id} ({report.base_url or 'no base URL'})")
    for step in report.steps:
        print(f"  {step.status:<12} {step.step}  {step.detail}".rstrip())
    if report.error:
        print(f"FAILED at {report.failed_step}: {report.error}")
        if report.snapshot:
            print(f"snapshot: {report.snapshot}")
    else:
        emit(_rows(report), as_json=False)
    for question in report.unresolved:
        print(f"TODO(maintainer) still open: {question}")
