"""The signed fields a merchant receives, in the notify and in the return redirect alike."""

from __future__ import annotations

from agent import epay
from agent.money import format_yuan
from agent.orders import UNKNOWN_CHANNEL_TYPE, Order


def result_params(order: Order, key: str) -> dict[str, str]:
    """epay result fields with the ORIGINAL money (never pay_amount), empty values omitted, signed.

    ``type`` is always present: a paid order has one (set at confirmation, agent/matching/confirm.py).
    """
    fields = {
        "pid": str(order.pid),
        "trade_no": order.trade_no,
        "out_trade_no": order.out_trade_no,
        "type": order.type or UNKNOWN_CHANNEL_TYPE,
        "name": order.name,
        "money": format_yuan(order.money_fen),
        "trade_status": "TRADE_SUCCESS",
        "param": order.param,
    }
    return epay.signed(fields, key)
