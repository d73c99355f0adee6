"""The one mapping from what a provider raised to what it means for the account.

Two kinds of trouble, kept apart as Home Assistant keeps ``ConfigEntryAuthFailed`` apart from
``UpdateFailed``:

* **waits for a person** (``login_failed``, ``needs_human``): the provider refused the credentials or asks
  for a one-time code. Trying again on our own changes nothing and, for a refused password, risks locking
  the merchant out; the account is tried again when a person acts (new password, code typed, 立即重试).
* **heals by itself** (``degraded``): the back office is unreachable, slow, answered 5xx, changed a page,
  or our own code failed. The account is probed on a backoff schedule and becomes ``ok`` at the first
  successful read; meanwhile it keeps taking orders for the degraded grace.

``SessionExpired`` is normally handled inside a job (one fresh login); it reaches here only when the new
session was refused too.

**人工接管** (a person logs in through the live view of the admin console) is offered for the failures of a
login that a person at the page can get past and automation cannot (:func:`takeover_offered`): a check only a
person can do (``human_check``: a captcha kind the solver cannot read, a risk check), a one-time code
(``needs_code``: typed on the page instead of through ``mapay account otp``), a captcha refused or unreadable
on every picture (``captcha``), and a login page that changed (``layout`` in a ``login`` step: the person logs
in on the page as it is now; reading still needs the profile updated if the list changed too). A refused
password (``refused``) is not offered: the stored password is wrong, the page cannot fix that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.providers.base import (
    AuthFailed,
    CaptchaUnsolved,
    HealthState,
    HumanCheck,
    LayoutChanged,
    NeedsHuman,
    SessionExpired,
    TransientError,
)


class FailureClass(StrEnum):
    UNREACHABLE = "unreachable"  # TransientError, TimeoutError: network, 5xx, rate limit, slow answer
    REFUSED = "refused"  # AuthFailed
    NEEDS_CODE = "needs_code"  # NeedsHuman
    HUMAN_CHECK = "human_check"  # HumanCheck: a captcha the solver cannot read, a risk check
    CAPTCHA = "captcha"  # CaptchaUnsolved: every picture of a login refused or unreadable
    LAYOUT = "layout"  # LayoutChanged: the profile no longer matches the back office
    SESSION = "session"  # SessionExpired even after a fresh login
    INTERNAL = "internal"  # anything else: a bug on our side


REASONS = {
    FailureClass.UNREACHABLE: "无法连接服务商后台",
    FailureClass.REFUSED: "登录被拒绝，请检查密码",
    FailureClass.NEEDS_CODE: "需要短信验证码",
    FailureClass.HUMAN_CHECK: "需要人工验证（验证码无法自动识别），请人工接管登录",
    FailureClass.CAPTCHA: "验证码多次识别失败",
    FailureClass.LAYOUT: "页面结构变化，需要更新配置",
    FailureClass.SESSION: "登录状态无法保持",
    FailureClass.INTERNAL: "读取流水时程序出错",
}
DISABLED_REASON = "已停用"
# A health written before failure classes existed (or by a person) has no class: say what the health says.
_HEALTH_REASONS = {
    HealthState.DEGRADED: REASONS[FailureClass.UNREACHABLE],
    HealthState.LOGIN_FAILED: REASONS[FailureClass.REFUSED],
    HealthState.NEEDS_HUMAN: REASONS[FailureClass.NEEDS_CODE],
}


@dataclass(frozen=True, slots=True)
class Failure:
    """What one failed job means: the account's new health, the class, and the technical detail."""

    health: HealthState
    kind: FailureClass
    detail: str

    @property
    def heals_by_itself(self) -> bool:
        """Probed again automatically (degraded); otherwise the account waits for a person."""
        return self.health is HealthState.DEGRADED

    @property
    def reason(self) -> str:
        return REASONS[self.kind]


def classify(exc: BaseException) -> Failure:
    """The single classification of a provider failure (poll scheduler, browser provider, admin test)."""
    if isinstance(exc, AuthFailed):
        return Failure(HealthState.LOGIN_FAILED, FailureClass.REFUSED, str(exc) or "credentials refused")
    if isinstance(exc, HumanCheck):
        return Failure(HealthState.NEEDS_HUMAN, FailureClass.HUMAN_CHECK, str(exc) or "a person must log in")
    if isinstance(exc, NeedsHuman):
        return Failure(HealthState.NEEDS_HUMAN, FailureClass.NEEDS_CODE, str(exc) or "a human step is required")
    if isinstance(exc, LayoutChanged):
        return Failure(HealthState.DEGRADED, FailureClass.LAYOUT, f"{exc.step}: {exc.detail}")
    if isinstance(exc, SessionExpired):
        return Failure(HealthState.DEGRADED, FailureClass.SESSION, f"SessionExpired: {exc}")
    if isinstance(exc, CaptchaUnsolved):
        return Failure(HealthState.DEGRADED, FailureClass.CAPTCHA, f"CaptchaUnsolved: {exc}")
    if isinstance(exc, TransientError):
        return Failure(HealthState.DEGRADED, FailureClass.UNREACHABLE, f"TransientError: {exc}")
    if isinstance(exc, TimeoutError):
        return Failure(HealthState.DEGRADED, FailureClass.UNREACHABLE, "poll timed out")
    return Failure(HealthState.DEGRADED, FailureClass.INTERNAL, f"{type(exc).__name__}: {exc}")


def describe(health: HealthState, kind: str | None, *, enabled: bool = True) -> str | None:
    """The Chinese reason an account cannot be relied on now, or None when it is fine."""
    if not enabled:
        return DISABLED_REASON
    if health is HealthState.OK:
        return None
    known = {member.value: member for member in FailureClass}
    return REASONS[known[kind]] if kind in known else _HEALTH_REASONS[health]


TAKEOVER_CLASSES = frozenset({FailureClass.HUMAN_CHECK, FailureClass.NEEDS_CODE, FailureClass.CAPTCHA})


def takeover_offered(health: HealthState, kind: str | None, detail: str | None) -> bool:
    """Whether the account's current failure is one a person logging in through the live view gets past."""
    if health is HealthState.OK or kind is None:
        return health is HealthState.NEEDS_HUMAN  # written before failure classes: a human step, all the same
    if kind == FailureClass.LAYOUT:
        return (detail or "").startswith("login")
    return kind in TAKEOVER_CLASSES
