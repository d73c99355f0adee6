"""``mapay profile check``: run one profile against one account, step by step, with the engine's own parts.

Unlike the running agent it never reuses or stores the account's saved session (a check must exercise
the login steps and must not disturb a running server), and it reports every step: what passed, what it
read, or exactly which step failed, why, and where the snapshot of the page is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.accounts import AccountBook
from agent.browser.runtime import BrowserRuntime
from agent.browser.snapshot import save_snapshot
from agent.captcha import CaptchaSolver
from agent.crypto import SecretBox
from agent.db import Database
from agent.profiles import Profile, ProfileError, load_profile, profile_file
from agent.profiles.hooks import load_hooks
from agent.profiles.http import BrowserTransport
from agent.profiles.login import LoginDriver
from agent.profiles.reader import Reading, read_transactions
from agent.providers.base import LayoutChanged, ProviderError, ProviderTransaction
from agent.recorder.draft import unresolved
from agent.settings import Settings

AskOtp = Callable[[], Awaitable[str]]


@dataclass
class StepResult:
    step: str
    status: str  # "ok", "failed" or "not reached"
    detail: str = ""


@dataclass
class CheckReport:
    profile: str
    account_id: int
    base_url: str = ""
    steps: list[StepResult] = field(default_factory=list)
    transactions: list[ProviderTransaction] = field(default_factory=list)
    failed_step: str | None = None
    error: str | None = None
    snapshot: Path | None = None
    unresolved: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def profile_path(settings: Settings, name: str) -> Path:
    """NAME as the agent finds it (the deployer's folder, then the shipped one), or a path to a profile file."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    try:
        return profile_file(settings.profile_dirs, name)
    except ProfileError:
        return settings.profile_dirs[0] / f"{name}.yaml"  # load_profile names the missing file


def _labels(profile: Profile) -> list[str]:
    return [*(step.label(i) for i, step in enumerate(profile.login.steps)), "login.success", "session.captures",
            "transactions"]


def _position(labels: list[str], failed: str, fallback: int) -> int:
    for index, label in enumerate(labels):
        if failed == label or failed.startswith(label + ".") or failed.startswith(label + ":"):
            return index
    return fallback


def _outcome(report: CheckReport, labels: list[str], failed_at: int | None, details: dict[str, str]) -> None:
    for index, label in enumerate(labels):
        if failed_at is None or index < failed_at:
            report.steps.append(StepResult(label, "ok", details.get(label, "")))
        elif index == failed_at:
            report.steps.append(StepResult(label, "failed", report.error or ""))
        else:
            report.steps.append(StepResult(label, "not reached"))


async def check_profile(
    settings: Settings, db: Database, box: SecretBox, name: str, account_id: int, *,
    headed: bool = False, window: timedelta = timedelta(hours=1), ask_otp: AskOtp | None = None,
    runtime: BrowserRuntime | None = None,
) -> CheckReport:
    """Log in with the profile as the account and read its last ``window`` of payments, normalized."""
    path = profile_path(settings, name)
    report = CheckReport(str(path), account_id)
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        report.failed_step, report.error = "profile", str(exc)
        report.steps.append(StepResult("profile", "failed", str(exc)))
        return report
    report.unresolved = unresolved(path.read_text(encoding="utf-8"))
    credentials = await AccountBook(db, box).credentials(account_id)
    report.base_url = credentials.base_url or profile.base_url
    own = runtime is None
    active = runtime or BrowserRuntime(settings, headless=not headed)
    solver = CaptchaSolver()
    try:
        if own:
            await active.__aenter__()
        context = await active.new_context(account_id)
        page = await context.new_page()

        async def otp(_: int) -> str | None:
            return await ask_otp() if ask_otp is not None else None

        driver = LoginDriver(profile, page, base_url=report.base_url, username=credentials.username,
                             password=credentials.password, solver=solver, otp_source=otp,
                             on_captcha=lambda kind, accepted: None, hooks=load_hooks(profile))
        labels = _labels(profile)
        details: dict[str, str] = {}
        secrets = [credentials.password]
        phase = "login"
        try:
            values = await driver.run()
            phase = "transactions"
            details["session.captures"] = ", ".join(f"{k} ({len(v)} chars)" for k, v in values.items()) or \
                "cookies only"
            now = datetime.now(UTC)
            reading = Reading(BrowserTransport(context.request), profile, values, report.base_url, settings.browser_timeout_seconds)
            report.transactions = await read_transactions(reading, now - window, now)
            details["transactions"] = f"{len(report.transactions)} payments in the last {window}"
            _outcome(report, labels, None, details)
        except ProviderError as exc:
            if isinstance(exc, LayoutChanged):
                failed = exc.step
            else:
                failed = "transactions" if phase == "transactions" else driver.current_step
            report.failed_step, report.error = failed, f"{type(exc).__name__}: {exc}"
            fallback = driver.step_index if phase == "login" else labels.index("transactions")
            _outcome(report, labels, _position(labels, failed, fallback), details)
            report.snapshot = await save_snapshot(
                settings.data_dir, account_id, step=failed, error=exc, page=page, secrets=[*secrets, *driver.secrets],
                extra={"platform": profile.slug, "check": True})
        await context.close()
    finally:
        solver.close()
        if own:
            await active.__aexit__(None, None, None)
    return report

