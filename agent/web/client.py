"""Who the client is, as far as the connection tells.

The trusted-proxies setting (``MAPAY_TRUSTED_PROXIES``, reverse proxies whose ``X-Forwarded-For`` names the
real client) is owned elsewhere; this module reads it without depending on it, so either change can land
first. Replace these functions rather than reading proxies' headers anywhere else.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from agent.settings import Settings


def is_trusted_proxy(settings: Settings, address: str) -> bool:
    """Whether a connection from ``address`` is a reverse proxy we trust (``MAPAY_TRUSTED_PROXIES``)."""
    proxies: Any = getattr(settings, "trusted_proxies", None) or ()
    try:
        peer = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if peer in ipaddress.ip_network(str(proxy), strict=False):
                return True
        except ValueError:
            continue
    return False
