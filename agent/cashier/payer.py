"""What the payer may know about an order: its status as the payer sees it, time left, the way back."""

from __future__ import annotations

from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from agent.notify.payload import result_params
from agent.orders import Order, OrderStatus

# Methods the payer can pick on the chooser, in display order (epay ``type`` values).
CHOOSABLE_METHODS = ("alipay", "wxpay")

METHOD_LABELS = {
    "alipay": "支付宝",
    "wxpay": "微信支付",
    "qqpay": "QQ钱包",
    "bank": "云闪付",
}


def payer_status(order: Order, now_ms: int) -> OrderStatus:
    """The stored status, except that a pending order past its expiry already reads as expired."""
    if order.status is OrderStatus.PENDING and now_ms > order.expires_at:
        return OrderStatus.EXPIRED
    return order.status


def remaining_seconds(order: Order, now_ms: int) -> int:
    """Whole seconds left to pay (rounded up, so the countdown never shows 0 while payment is possible)."""
    if payer_status(order, now_ms) is not OrderStatus.PENDING:
        return 0
    return -(-(order.expires_at - now_ms) // 1000)


def return_redirect(order: Order, key: str, platform_key: rsa.RSAPrivateKey | None = None) -> str | None:
    """``return_url`` with the signed result fields (ORIGINAL money) appended; None when there is nowhere to go.

    ``platform_key`` signs the fields of an order created with RSA (epay V2), ``key`` those of an MD5 order.

    Only http(s) targets are followed: anything else (``javascript:``...) would run in our origin.
    """
    url = order.return_url.strip()
    if order.status is not OrderStatus.PAID or not url.lower().startswith(("http://", "https://")):
        return None
    base, hash_mark, fragment = url.partition("#")
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{urlencode(result_params(order, key, platform_key))}{hash_mark}{fragment}"


def status_document(
    order: Order, key: str, now_ms: int, platform_key: rsa.RSAPrivateKey | None = None
) -> dict[str, object]:
    """The status JSON the cashier page polls: nothing a payer should not see (no key, no notify_url)."""
    status = payer_status(order, now_ms)
    document: dict[str, object] = {
        "status": status.value,
        "remaining_seconds": remaining_seconds(order, now_ms),
    }
    if status is OrderStatus.PAID:
        document["redirect_url"] = return_redirect(order, key, platform_key)
    return document
