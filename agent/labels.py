"""Chinese names of the states shown to people: in the admin console and in alerts."""

from __future__ import annotations

from agent.orders import OrderStatus

HEALTH = {"ok": "正常", "degraded": "降级", "login_failed": "登录失败", "needs_human": "需人工"}
ORDER_STATUS: dict[str, str] = {
    OrderStatus.PENDING: "待支付", OrderStatus.PAID: "已支付", OrderStatus.EXPIRED: "已过期", OrderStatus.CLOSED: "已关闭",
}
NOTIFY_STATUS = {"pending": "待发送", "acked": "已确认", "failed": "已失败"}  # keyed by notify.outbox.JobStatus
NOTIFY_OUTCOME = {"acked": "成功", "rejected": "被拒绝", "error": "出错"}
TRANSACTION_STATUS = {"unmatched": "未匹配", "matched": "已匹配", "dismissed": "已忽略"}
CHANNEL = {"alipay": "支付宝", "wxpay": "微信支付", "qqpay": "QQ钱包", "bank": "云闪付"}

ALL = {
    "health": HEALTH, "order_status": ORDER_STATUS, "notify_status": NOTIFY_STATUS,
    "notify_outcome": NOTIFY_OUTCOME, "transaction_status": TRANSACTION_STATUS, "channel": CHANNEL,
}
