"""The signed fields a merchant receives, in the notify and in the return redirect alike."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import rsa

from agent import epay, epay_rsa
from agent.money import format_yuan
from agent.orders import UNKNOWN_CHANNEL_TYPE, Order


def result_params(order: Order, key: str, platform_key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    """epay result fields with the ORIGINAL money (never pay_amount), empty values omitted, signed.

    ``type`` is always present: a paid order has one (set at confirmation, agent/matching/confirm.py).
    An order created with RSA (epay V2) is signed with the platform private key ``platform_key`` and carries
    ``api_trade_no`` (the provider's trade number, once known) and ``timestamp``; others with the MD5 ``key``.
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
    if order.sign_type == epay_rsa.SIGN_TYPE:
        if platform_key is None:
            raise ValueError(f"order {order.trade_no} is signed with RSA: the platform key is needed")
        fields["api_trade_no"] = order.provider_trade_no or ""
        return {k: str(v) for k, v in epay_rsa.signed(fields, platform_key, int(time.time())).items()}
    return epay.signed(fields, key)
