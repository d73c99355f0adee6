"""``mapay doctor``: a Chinese checklist of what the deployment still lacks (agent/ops/doctor.py)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import Any

from agent.admin.auth import admin_count
from agent.cli.context import open_context
from agent.cli.trial import cli_name
from agent.demo.trial import gateway_url
from agent.ops import doctor
from agent.ops.health import launch_browser
from agent.settings import Settings

BROWSER_TIMEOUT_SECONDS = 60


def register(commands: Any) -> None:
    cmd = commands.add_parser("doctor", help="部署检查：数据目录、密钥、Chromium、账号、对外地址、管理员、告警（✓/✗ 与修复方法）")
    cmd.set_defaults(standalone=run_doctor)


def run_doctor(settings: Settings, args: argparse.Namespace) -> int:
    checks = asyncio.run(collect(settings))
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], ensure_ascii=False))
    else:
        print(doctor.render_text(checks, f"mapay 部署检查（数据目录 {settings.data_dir}）"))
    return 0 if all(c.ok for c in checks) else 1


async def collect(settings: Settings) -> list[doctor.Check]:
    cli = cli_name()
    checks = doctor.folder_checks(settings, cli)
    checks.append(await _browser(settings))
    if settings.database_path.exists() and all(c.ok for c in checks[:3]):
        async with open_context(settings) as ctx:
            checks += await doctor.database_checks(ctx.db, ctx.accounts, ctx.merchants, await admin_count(ctx.db), cli)
    checks += await doctor.reach_checks(settings, local_url=gateway_url(settings))
    checks.append(doctor.alerts_check(settings, cli))
    return checks


async def _browser(settings: Settings) -> doctor.Check:
    try:
        detail = await asyncio.wait_for(launch_browser(settings), timeout=BROWSER_TIMEOUT_SECONDS)
    except Exception as exc:  # whatever stops Chromium is the finding
        return doctor.browser_check("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return doctor.browser_check("ok", detail)
