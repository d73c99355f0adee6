"""The order record as every component reads it: columns by name, status as ``OrderStatus``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# The epay ``type`` a paid order gets when nobody chose a method (submit.php without ``type``) and no
# provider payment says which channel paid (补单 by hand without a transaction). Every epay client accepts
# it, and a notify without ``type`` is refused by independent clients ("Missing callback fields: type").
UNKNOWN_CHANNEL_TYPE = "alipay"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Order:
    trade_no: str
    pid: int
    out_trade_no: str
    type: str | None
    name: str
    money_fen: int  # the merchant's amount: the only amount a merchant ever sees
    pay_amount_fen: int  # what the payer must pay (money_fen plus the uniqueness offset)
    code_id: int
    account_id: int
    scope: str
    status: OrderStatus
    created_at: int
    expires_at: int
    paid_at: int | None
    provider_trade_no: str | None
    param: str
    notify_url: str
    return_url: str
    clientip: str
    device: str
    sitename: str
    sign_type: str = "MD5"  # how the merchant signed its create: "RSA" orders are answered with the platform key

    @classmethod
    def from_row(cls, row: Any) -> Order:
        values = {name: row[name] for name in cls.__slots__}
        values["status"] = OrderStatus(values["status"])
        return cls(**values)

    def is_open_at(self, at_ms: int) -> bool:
        """Pending and not yet past its expiry: the payer may still pay."""
        return self.status is OrderStatus.PENDING and at_ms <= self.expires_at


ORDER_COLUMNS = ", ".join(Order.__slots__)

