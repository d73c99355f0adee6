"""Who the client is: the socket peer, or what a trusted reverse proxy says in ``X-Forwarded-For``.

Anyone can send ``X-Forwarded-For``, so the header counts only when the peer is one of
``MAPAY_TRUSTED_PROXIES``. Each proxy appends the address it received the request from; read from the
right, the first address that is not a trusted proxy is the client (what the client wrote itself further
left is never believed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: web.BaseRequest, trusted_proxies: Sequence[Network]) -> str:
    """The client's address as text; the socket peer unless that peer is a trusted proxy."""
    peer = request.remote or ""
    if not _is_trusted(_parsed(peer), trusted_proxies):
        return peer
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", ()) for hop in header.split(",")]
    client = peer
    for hop in reversed(hops):
        address = _parsed(hop)
        if address is None:  # not an address: believe nothing written before it
            return client
        client = str(address)
        if not _is_trusted(address, trusted_proxies):
            return client
    return client  # every hop is a proxy of ours: the leftmost is as close to the client as we know


def _is_trusted(address: Address | None, trusted_proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted_proxies)


def _parsed(text: str) -> Address | None:
    """An address, also as some proxies write it with a port (``1.2.3.4:5678``, ``[::1]:5678``)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: str, trusted_proxies: Sequence[Network]) -> bool:
    """Whether a connection from ``address`` comes from one of our reverse proxies (``MAPAY_TRUSTED_PROXIES``)."""
    return _is_trusted(_parsed(address), trusted_proxies)
