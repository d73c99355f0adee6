"""``mapay doctor`` and the dashboard's 部署检查: what a deployer typically gets wrong, each with its fix.

Every check is a :class:`Check` (passed or not, what was found, what to do) in Simplified Chinese. The CLI
runs them all, a real Chromium start included; the admin dashboard runs the same ones with the gateway's
cached browser check (``/healthz``'s), and shows the list until every item passes.

Checks that need no database come first and change nothing: ``mapay doctor`` on a fresh folder does not
create a database or a secret key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from agent.accounts import Account, AccountBook
from agent.codes import CodeCounts, code_counts_by_account
from agent.db import Database
from agent.merchants import Merchant, MerchantBook
from agent.providers.base import HealthState
from agent.settings import CHECKOUT_ROOT, Settings

LOOPBACK_PREFIXES = ("http://127.", "http://localhost", "http://[::1]")


def default_cli() -> str:
    """The command that runs this installation's CLI: scripts/mapay of a checkout, else ``mapay`` on the PATH."""
    return str(CHECKOUT_ROOT / "scripts" / "mapay") if CHECKOUT_ROOT else "mapay"


@dataclass(frozen=True, slots=True)
class Check:
    title: str
    ok: bool
    detail: str
    fix: str = ""


def folder_checks(settings: Settings, cli: str = "mapay") -> list[Check]:
    """The data folder (there, ours to write), the database and the secret key; changes nothing."""
    folder = Path(os.path.abspath(settings.data_dir))
    checks = [_folder(folder)]
    database = settings.database_path
    if database.exists():
        checks.append(Check("数据库", True, f"{folder / database.name}"))
    else:
        checks.append(Check("数据库", False, f"{folder} 中还没有数据库",
                            "运行 ./scripts/run 启动网关（首次启动时创建）；若已有数据，用 MAPAY_DATA_DIR 指向原来的数据目录"))
    key_file = folder / "secret.key"
    if settings.secret_key is not None:
        checks.append(Check("加密密钥", True, "来自 MAPAY_SECRET_KEY"))
    elif key_file.exists():
        readable = os.access(key_file, os.R_OK)
        checks.append(Check("加密密钥", readable, f"{key_file}" + ("" if readable else " 无法读取"),
                            "" if readable else f"chown {os.geteuid()} {key_file} && chmod 600 {key_file}"))
    elif database.exists():
        checks.append(Check("加密密钥", False, "数据库已存在，但没有 secret.key 也没有 MAPAY_SECRET_KEY：已保存的密码与密钥无法解密",
                            f"把原来的 secret.key 放回 {folder}，或设置原来的 MAPAY_SECRET_KEY"))
    else:
        checks.append(Check("加密密钥", True, "首次启动时自动生成到 secret.key"))
    return checks


def _folder(folder: Path) -> Check:
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), folder)
        if os.access(parent, os.W_OK):
            return Check("数据目录", True, f"{folder}（首次启动时创建）")
        return Check("数据目录", False, f"{folder} 不存在，且无法在 {parent} 中创建",
                     f"mkdir -p {folder} && chown {os.geteuid()} {folder}，或用 MAPAY_DATA_DIR 指向可写的目录")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return Check("数据目录", False, f"{folder} 不可写（{exc.strerror}）",
                     f"chown -R {os.geteuid()} {folder} && chmod u+rwx {folder}，或用 MAPAY_DATA_DIR 指向可写的目录")
    return Check("数据目录", True, f"{folder} 可写")


def browser_check(status: str, detail: str) -> Check:
    if status == "ok":
        return Check("Chromium 浏览器", True, "能够启动")
    if status == "unknown":
        return Check("Chromium 浏览器", False, "正在检查，请稍后刷新", "")
    return Check("Chromium 浏览器", False, f"无法启动：{detail}",
                 "Debian/Ubuntu：apt-get install chromium（./scripts/run 会自动安装），或用 MAPAY_CHROMIUM_PATH 指定浏览器路径")


def account_checks(accounts: list[Account], codes: dict[int, CodeCounts], cli: str = "mapay") -> list[Check]:
    """One check per enabled account (its health, with the Chinese reason and the fix), plus one if none."""
    enabled = [a for a in accounts if a.enabled]
    if not enabled:
        return [Check("收款账号", False, "还没有启用的收款账号，订单无法下单",
                      f"添加真实账号：{cli} account add --platform shouqianba --name 门店一 --username 手机号；"
                      f"或先试用：{cli} try")]
    checks = []
    for account in enabled:
        title = f"账号 #{account.id} {account.name}"
        count = codes.get(account.id)
        if account.health is not HealthState.OK:
            checks.append(Check(title, False, account.problem or account.health.value, _account_fix(account, cli)))
        elif count is None or count.enabled_codes == 0:
            checks.append(Check(title, False, "登录正常，但没有启用的收款码",
                                f"{cli} code add --account {account.id} --payload '收款码内容' --terminal 终端号"))
        else:
            checks.append(Check(title, True, f"正常，{count.enabled_codes} 个收款码"))
    return checks


def _account_fix(account: Account, cli: str) -> str:
    page = f"/admin/accounts/{account.id}"
    if account.health is HealthState.LOGIN_FAILED:
        return (f"确认密码后运行 {cli} account update {account.id} --password-stdin（或在管理后台 {page} 修改），"
                "网关随即重新登录")
    if account.health is HealthState.NEEDS_HUMAN:
        return f"短信验证码：{cli} account otp {account.id} 验证码；其他人工验证：管理后台 {page} → 人工接管"
    if account.base_url and account.base_url.startswith(LOOPBACK_PREFIXES):
        return f"这是模拟后台（{account.base_url}）：运行 {cli} try 并保持它运行，网关会自动恢复"
    return (f"确认本机能访问后台地址 {account.base_url or '（平台默认）'}；网关会自动重试，"
            f"也可 {cli} account retry {account.id} 立即重试")


async def database_checks(db: Database, accounts: AccountBook, merchants: MerchantBook, admins: int,
                          cli: str = "mapay") -> list[Check]:
    """Merchants, every enabled account with its codes, administrators."""
    return [
        merchant_check(await merchants.list(), cli),
        *account_checks(await accounts.accounts(), await code_counts_by_account(db), cli),
        admin_check(admins, cli),
    ]


def merchant_check(merchants: list[Merchant], cli: str = "mapay") -> Check:
    enabled = [m for m in merchants if m.enabled]
    if enabled:
        return Check("商户", True, "、".join(f"{m.name}（pid {m.pid}）" for m in enabled[:3])
                     + (f" 等 {len(enabled)} 个" if len(enabled) > 3 else ""))
    return Check("商户", False, "还没有启用的商户，商户网站无法下单", f"{cli} merchant add \"我的小店\"")


def admin_check(admins: int, cli: str = "mapay") -> Check:
    if admins:
        return Check("管理后台", True, f"{admins} 个管理员可登录 /admin")
    return Check("管理后台", False, "还没有管理员，无法登录 /admin",
                 f"{cli} admin create admin（密码至少 10 个字符，输入两次）")


def alerts_check(settings: Settings, cli: str = "mapay") -> Check:
    if settings.alert_urls:
        return Check("告警通知", True, f"{len(settings.alert_urls)} 个通知渠道")
    return Check("告警通知", False, "未配置 MAPAY_ALERT_URLS：账号需要验证码、登录失败、通知失败时没有人会知道",
                 f"设置 MAPAY_ALERT_URLS（如 wecombot://机器人KEY、dingtalk://TOKEN），再运行 {cli} alert test")


async def reach_checks(settings: Settings, *, local_url: str, include_gateway: bool = True) -> list[Check]:
    """The gateway answers on this machine, and its public URL (the cashier links) is reachable from here."""
    checks = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        if include_gateway:
            running = await _answers(http, f"{local_url}/api/v1/openapi.json")
            checks.append(Check("网关运行中", running is None, local_url if running is None else f"{local_url} 无响应",
                                "" if running is None else "运行 ./scripts/run（或 mapay serve）"))
        if settings.public_url is None:
            checks.append(Check("对外地址", False, f"未设置 MAPAY_PUBLIC_URL：收银台地址为 {settings.base_url}，付款人的手机打不开",
                                "设置 MAPAY_PUBLIC_URL=https://你的域名，并把该域名反向代理到本服务"))
        else:
            problem = await _answers(http, f"{settings.base_url}/api/v1/openapi.json")
            checks.append(Check("对外地址", problem is None, settings.base_url if problem is None
                                else f"本机无法访问 {settings.base_url}（{problem}）",
                                "" if problem is None else "检查域名解析、反向代理与防火墙，以及网关是否在运行"))
    return checks


async def _answers(http: aiohttp.ClientSession, url: str) -> str | None:
    """None when ``url`` answers like mapay does, else what went wrong."""
    try:
        async with http.get(url) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return str(exc) or type(exc).__name__


def render_text(checks: list[Check], heading: str) -> str:
    lines = [heading]
    for check in checks:
        lines.append(f"{'✓' if check.ok else '✗'} {check.title}：{check.detail}")
        if not check.ok and check.fix:
            lines.append(f"    → {check.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(f"共 {len(checks)} 项，" + (f"{failed} 项需要处理" if failed else "全部通过"))
    return "\n".join(lines)
