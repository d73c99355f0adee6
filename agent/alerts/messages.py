"""What the owner reads: every alert's Chinese title and body, built from plain facts.

An alert is only useful if it says what happened and exactly what to do next, so each builder ends with
the command and the admin page that fix the condition. Builders take small dataclasses instead of database
rows, so the texts can be read (and tested) apart from the queries that find the conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.accounts.failures import FailureClass, describe, takeover_offered
from agent.labels import CHANNEL, HEALTH
from agent.money import format_yuan
from agent.orders import OrderStatus
from agent.providers.base import HealthState
from agent.timefmt import format_local


class Level(StrEnum):
    """How the channel should colour the alert; the values are Apprise's notify types."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the owner. ``key`` names the condition, so it is sent once while the condition lasts."""

    key: str
    title: str
    body: str
    level: Level = Level.WARNING


@dataclass(frozen=True, slots=True)
class AccountFacts:
    id: int
    name: str
    platform: str  # the platform's Chinese name, e.g. 盛付通
    health: str
    reason: str | None  # the technical detail of the latest failure
    since_ms: int | None  # when the account started failing
    failure_class: str | None = None  # agent.accounts.FailureClass value: the Chinese reason comes from it


@dataclass(frozen=True, slots=True)
class UnackedNotify:
    trade_no: str
    pid: int
    merchant: str
    out_trade_no: str
    money_fen: int
    attempts: int
    last_error: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class UnmatchedPayment:
    id: int
    account: str
    platform: str
    provider_trade_no: str
    amount_fen: int
    channel: str
    paid_at: int
    duplicate_of: str | None = None  # the order whose quarantined amount slot this payment landed on
    duplicate_status: str | None = None  # that order's status: paid means the payer paid twice


def account_key(account_id: int, health: str) -> str:
    return f"account:{account_id}:{health}"


def _who(account: AccountFacts) -> str:
    return f"收款账号「{account.name}」（{account.platform}，ID {account.id}）"


def _account_page(base_url: str, account_id: int) -> str:
    return f"{base_url}/admin/accounts/{account_id}"


def _duration(ms: int) -> str:
    """A length of time the way a person says it: "12 分钟", "3 小时 5 分钟"."""
    minutes = max(0, ms) // 60_000
    if minutes < 1:
        return f"{max(0, ms) // 1000} 秒"
    if minutes < 60:
        return f"{minutes} 分钟"
    hours, rest = divmod(minutes, 60)
    return f"{hours} 小时" + (f" {rest} 分钟" if rest else "")


def _takeover_page(base_url: str, account_id: int) -> str:
    return f"{base_url}/admin/accounts/{account_id}/takeover"


def needs_human(account: AccountFacts, base_url: str) -> Alert:
    """A person is needed at the login: an SMS one-time code, or a check only a person can do (人工接管)."""
    if account.failure_class == FailureClass.HUMAN_CHECK:
        body = (
            f"{_who(account)}登录时遇到无法自动完成的验证（如无法识别的验证码、风控验证），"
            "完成之前这个账号收到的付款无法自动确认，也不会自动重试。\n"
            f"服务商提示：{account.reason or '需要人工验证'}\n"
            "请在管理后台人工接管：浏览器画面中会打开登录页并自动填写账号密码，由你完成验证，成功后账号立即恢复：\n"
            f"  人工接管：{_takeover_page(base_url, account.id)}"
        )
        return Alert(account_key(account.id, "needs_human"), f"需要人工登录：{account.name}（{account.platform}）", body)
    body = (
        f"{_who(account)}登录时需要短信验证码，输入之前这个账号收到的付款无法自动确认。\n"
        f"服务商提示：{account.reason or '需要人工操作'}\n"
        "请查看接收验证码的手机短信，然后任选一种方式输入：\n"
        f"  命令：mapay account otp {account.id} <验证码>\n"
        f"  后台：{_account_page(base_url, account.id)}\n"
        f"  或人工接管，在浏览器画面中亲自登录：{_takeover_page(base_url, account.id)}"
    )
    return Alert(account_key(account.id, "needs_human"), f"需要验证码：{account.name}（{account.platform}）", body)


def login_failed(account: AccountFacts, base_url: str) -> Alert:
    """Credentials refused: the agent stops trying (no lock-out storm), so only a person can bring it back."""
    body = (
        f"{_who(account)}登录被拒绝，请检查密码。在修改之前不会再尝试登录，这个账号收到的付款无法自动确认。\n"
        f"服务商提示：{account.reason or '登录被拒绝'}\n"
        "请在服务商后台确认账号和密码，然后更新密码（保存后会立即重新登录）：\n"
        f"  命令：mapay account update {account.id} --password-stdin\n"
        f"  后台：{_account_page(base_url, account.id)}（编辑账号）"
    )
    return Alert(
        account_key(account.id, "login_failed"), f"登录被拒绝：{account.name}（{account.platform}）", body,
        Level.FAILURE,
    )


def degraded(account: AccountFacts, base_url: str, now_ms: int) -> Alert:
    """Reads keep failing: payments on this account are confirmed late or not at all."""
    since = account.since_ms if account.since_ms is not None else now_ms
    body = (
        f"{_who(account)}读取交易失败已持续 {_duration(now_ms - since)}（自 {format_local(since)} 起），"
        "这个账号的付款确认会延迟或中断；mapay 会按退避间隔自动重试，恢复后会再通知你。\n"
        f"原因：{describe(HealthState.DEGRADED, account.failure_class)}\n"
        f"技术细节：{account.reason or '无'}\n"
        "请打开后台查看失败截图并点击“立即重试”；若服务商后台改版，请更新平台配置或联系维护者：\n"
        f"  命令：mapay account test {account.id}\n"
        f"  后台：{_account_page(base_url, account.id)}"
    )
    if takeover_offered(HealthState.DEGRADED, account.failure_class, account.reason):
        body += f"\n  自动登录无法完成时可人工接管：{_takeover_page(base_url, account.id)}"
    return Alert(account_key(account.id, "degraded"), f"账号读取异常：{account.name}（{account.platform}）", body)


def recovered(account: AccountFacts) -> Alert:
    """Sent once after one of the alerts above, when the account reads normally again."""
    body = f"{_who(account)}已恢复{HEALTH['ok']}，付款会继续自动确认。"
    return Alert(account_key(account.id, "recovered"), f"已恢复：{account.name}（{account.platform}）", body, Level.SUCCESS)


def notify_key(trade_no: str) -> str:
    return f"notify:{trade_no}"


NOTIFY_GROUP_KEY = "notify:many"


def _notify_line(job: UnackedNotify) -> str:
    return (
        f"订单 {job.trade_no}（商户「{job.merchant}」pid {job.pid}，商户订单号 {job.out_trade_no}，"
        f"{format_yuan(job.money_fen)} 元，已尝试 {job.attempts} 次）"
    )


def unacked_notify(job: UnackedNotify, base_url: str, now_ms: int) -> Alert:
    """A paid order the merchant's site has not acknowledged: the buyer paid but may not get the goods."""
    body = (
        f"{_notify_line(job)}已付款，但商户网站 {_duration(now_ms - job.created_at)} 内没有确认回调（应返回 success），"
        "买家可能收不到商品。\n"
        f"最近一次错误：{job.last_error or '无'}\n"
        "请检查商户网站是否正常，修复后重新发送回调：\n"
        f"  命令：mapay notify resend {job.trade_no}\n"
        f"  后台：{base_url}/admin/orders/{job.trade_no}"
    )
    return Alert(notify_key(job.trade_no), f"回调未确认：订单 {job.trade_no}", body)


def unacked_notifies(jobs: list[UnackedNotify], base_url: str, shown: int = 10) -> Alert:
    """Many at once usually means the merchant's site is down: one message, not one per order."""
    lines = [f"- {_notify_line(job)}\n  mapay notify resend {job.trade_no}" for job in jobs[:shown]]
    if len(jobs) > shown:
        lines.append(f"……另有 {len(jobs) - shown} 笔，见后台订单列表")
    body = (
        f"{len(jobs)} 笔已付款订单的回调长时间没有被商户网站确认（应返回 success），通常是商户网站故障或回调地址错误。\n"
        "请先修复商户网站，再逐笔重新发送回调：\n"
        + "\n".join(lines)
        + f"\n后台：{base_url}/admin/orders?status=paid"
    )
    return Alert(NOTIFY_GROUP_KEY, f"{len(jobs)} 笔订单回调未确认", body)


def unmatched_key(payment_id: int) -> str:
    return f"unmatched:{payment_id}"


def unmatched_payment(payment: UnmatchedPayment, base_url: str) -> Alert:
    """A payment no order claims. The one place that decides which variant of the message applies."""
    if payment.duplicate_of is not None and payment.duplicate_status == OrderStatus.PAID:
        return _duplicate_payment(payment, base_url)
    if payment.duplicate_of is not None:
        return _late_payment(payment, base_url)
    return _stray_payment(payment, base_url)


def _payment_line(payment: UnmatchedPayment) -> str:
    return (
        f"收款账号「{payment.account}」（{payment.platform}）收到一笔 {format_yuan(payment.amount_fen)} 元的付款"
        f"（{CHANNEL.get(payment.channel, payment.channel)}，{format_local(payment.paid_at)}，"
        f"服务商单号 {payment.provider_trade_no}，记录 ID {payment.id}）"
    )


def _stray_payment(payment: UnmatchedPayment, base_url: str) -> Alert:
    body = (
        f"{_payment_line(payment)}，没有对应的订单：可能付款人付错了金额，或订单已过期。\n"
        "请核对付款人和订单后任选一种处理：\n"
        f"  关联到订单（订单会标记已付款并通知商户）：mapay transaction attach {payment.id} <订单号> --reason <原因>\n"
        f"  确认无关并忽略：mapay transaction dismiss {payment.id} --reason <原因>\n"
        f"  后台：{base_url}/admin/unmatched"
    )
    title = f"未匹配的付款：{format_yuan(payment.amount_fen)} 元（{payment.account}）"
    return Alert(unmatched_key(payment.id), title, body)


def _duplicate_payment(payment: UnmatchedPayment, base_url: str) -> Alert:
    body = (
        f"{_payment_line(payment)}，与已付款订单 {payment.duplicate_of} 疑似重复付款（同一付款人付了两次）。\n"
        "请联系付款人核实，退款后忽略这笔记录：\n"
        f"  忽略：mapay transaction dismiss {payment.id} --reason 已退款\n"
        f"  后台：{base_url}/admin/orders/{payment.duplicate_of}"
    )
    title = f"疑似重复付款：{format_yuan(payment.amount_fen)} 元（{payment.account}）"
    return Alert(unmatched_key(payment.id), title, body)


def _late_payment(payment: UnmatchedPayment, base_url: str) -> Alert:
    ended = "已关闭" if payment.duplicate_status == OrderStatus.CLOSED else "已过期"
    body = (
        f"{_payment_line(payment)}，金额与订单 {payment.duplicate_of} 相同，但该订单{ended}后才付款。\n"
        "请核实后任选一种处理：\n"
        f"  关联到该订单（订单会标记已付款并通知商户）：mapay transaction attach {payment.id} "
        f"{payment.duplicate_of} --reason <原因>\n"
        f"  退款后忽略：mapay transaction dismiss {payment.id} --reason 已退款\n"
        f"  后台：{base_url}/admin/orders/{payment.duplicate_of}"
    )
    title = f"订单{ended}后收到付款：{format_yuan(payment.amount_fen)} 元（{payment.account}）"
    return Alert(unmatched_key(payment.id), title, body)


STORAGE_KEY = "storage"


def storage_failing(detail: str, data_dir: str) -> Alert:
    """The database refuses writes: new orders and confirmations fail until a person frees the disk."""
    body = (
        f"mapay 无法写入数据库：{detail}\n"
        "新订单、付款确认和回调都可能失败。\n"
        f"请检查磁盘空间（df -h）和数据目录 {data_dir} 的权限，再查看 mapay 的日志；恢复后无需其他操作。"
    )
    return Alert(STORAGE_KEY, "数据库写入失败", body, Level.FAILURE)


def summary(held: list[Alert], shown: int = 15) -> Alert:
    """Replaces the alerts over the rate limit, so a storm is one message the owner can still read."""
    lines = [f"- {alert.title}" for alert in held[:shown]]
    if len(held) > shown:
        lines.append(f"……另有 {len(held) - shown} 条")
    body = "短时间内告警过多，为避免刷屏，以下告警合并为这一条（详情见后台和日志）：\n" + "\n".join(lines)
    return Alert("summary", f"还有 {len(held)} 条告警被合并", body)


def channel_check() -> Alert:
    """What `mapay alert test` sends: proof that a channel delivers, asking nothing of the owner."""
    return Alert("test", "mapay 测试告警", "这是一条测试告警：收到说明告警通道配置正确，无需处理。", Level.INFO)
