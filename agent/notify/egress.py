"""Where a notify may go: the merchant's site, never the gateway itself or the cloud's metadata service.

A merchant chooses ``notify_url``, so without a policy the notifier is an open proxy into our network
(``http://127.0.0.1:8000/metrics``, ``http://169.254.169.254/...``). The address is judged where it is
used: the connector's socket factory sees every address aiohttp is about to connect to, after DNS
resolution and for IP literals alike, and refuses before a single packet is sent. A name that resolves
to an allowed address for a check and to a forbidden one for the connection (DNS rebinding) is therefore
judged on the address actually dialled. Redirects are never followed (agent/notify/sender.py).

Always refused: the gateway's own listening addresses (and its public URL), link-local addresses
(169.254.0.0/16, fe80::/10, which hold the cloud metadata services) and AWS's IPv6 metadata address
fd00:ec2::254. Loopback and private addresses are allowed unless ``MAPAY_NOTIFY_ALLOW_PRIVATE=false``:
merchant sites often live on the same host or network.

What can be judged without DNS (an IP literal, the public URL) is also judged when the order is placed
(:meth:`EgressPolicy.order_refusal`), so the merchant hears at once that its notify_url can never be called
instead of waiting for notifies that never come.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohappyeyeballs import AddrInfoType
from aiohttp import web

from agent.web.listening import Listening

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_REFUSED = (
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local: 169.254.169.254 is every big cloud's metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
)


LINK_LOCAL = "link-local or cloud metadata address"
OWN_ADDRESS = "the gateway's own address"
PRIVATE = "private or loopback address (MAPAY_NOTIFY_ALLOW_PRIVATE=false)"
OWN_URL = "the gateway's own public URL"
# What the merchant reads when an order's notify_url is refused at once (the English stays in logs).
_ZH = {
    LINK_LOCAL: "不能是链路本地地址或云服务器元数据地址",
    OWN_ADDRESS: "不能指向本网关自身",
    PRIVATE: "不能是内网或本机地址（网关设置了 MAPAY_NOTIFY_ALLOW_PRIVATE=false）",
    OWN_URL: "不能指向本网关自身",
}


class NotifyRefused(OSError):
    """The notify's destination is not allowed; raised before any connection attempt."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(errno.EACCES, f"notify to {address} refused: {reason}")


def _address(host: str) -> IPAddress:
    address = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is not part of it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


def _is_local(address: IPAddress) -> bool:
    """Whether ``address`` belongs to this machine: only a local address can be bound to."""
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


class EgressPolicy:
    """Judges each address a notify connects to; plug :meth:`socket_factory` into the notifier's connector."""

    def __init__(self, *, allow_private: bool, listening: Listening, public_url: str | None = None) -> None:
        self._allow_private = allow_private
        self._listening = listening
        self._public_url = (public_url or "").rstrip("/")

    def refusal(self, host: str, port: int) -> str | None:
        """Why connecting to ``host:port`` (an IP address) is not allowed, or None when it is."""
        try:
            address = _address(host)
        except ValueError:
            return "not an IP address"
        if any(address in network for network in ALWAYS_REFUSED):
            return LINK_LOCAL
        if self._is_own_listener(address, port):
            return OWN_ADDRESS
        if not self._allow_private and not address.is_global:
            return PRIVATE
        return None

    def url_refusal(self, url: str) -> str | None:
        """Why a notify to ``url`` is not even attempted: not http(s), or the gateway's own public URL."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return "only http(s) URLs are notified"
        base = self._public_url
        if base and (url == base or url.startswith((base + "/", base + "?"))):
            return OWN_URL
        return None

    def order_refusal(self, notify_url: str) -> str | None:
        """Why an order's (well-formed) ``notify_url`` could never be notified, in Chinese for the merchant;
        judged without DNS: a host name is judged on the addresses it resolves to when a notify is sent."""
        parts = urlsplit(notify_url)
        reason = self.url_refusal(notify_url)
        if reason is None and parts.hostname:
            try:
                _address(parts.hostname)
            except ValueError:
                return None  # a name
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            reason = self.refusal(parts.hostname, port)
        return None if reason is None else "notify_url " + _ZH.get(reason, "不可用")

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's ``TCPConnector(socket_factory=...)``: a socket only for an allowed address."""
        family, type_, proto, _, sockaddr = addr_info
        host, port = str(sockaddr[0]), int(sockaddr[1])
        reason = self.refusal(host, port)
        if reason is not None:
            raise NotifyRefused(f"{host}:{port}", reason)
        return socket.socket(family=family, type=type_, proto=proto)

    def _is_own_listener(self, address: IPAddress, port: int) -> bool:
        for host, listening_port in self._listening.addresses:
            if port != listening_port:
                continue
            try:
                bound = _address(host)
            except ValueError:  # a host name: compare with what it is bound to, i.e. any local address
                bound = ipaddress.ip_address("0.0.0.0")
            if bound.is_unspecified and _is_local(address):
                return True
            if address == bound or (address.is_loopback and bound.is_loopback):
                return True
        return False


EGRESS = web.AppKey("egress", EgressPolicy)
