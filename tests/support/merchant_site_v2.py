"""A merchant site that speaks epay V1 and V2 at once: RSA notifies are verified with the platform public key.

One merchant may sign some orders with MD5 and others with RSA; each notify's ``sign_type`` says which check
applies. RSA notifies must also carry a ``timestamp``; money is compared with the merchant's own order.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.epay_v2_client import platform_verifies
from tests.support.merchant_site import CALLBACK_FIELDS, MerchantSite


@dataclass
class V2MerchantSite(MerchantSite):
    platform_public: str = ""

    def check(self, params: dict[str, str]) -> str | None:
        if params.get("sign_type") != "RSA":
            return super().check(params)
        missing = [name for name in (*CALLBACK_FIELDS, "timestamp") if not params.get(name)]
        if missing:
            return f"Missing callback fields: {', '.join(missing)}"
        if not platform_verifies(params, self.platform_public):
            return "签名错误"
        return self.check_order(params)
