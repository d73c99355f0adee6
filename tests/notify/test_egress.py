"""Where notifies may go: never the gateway itself, never link-local or metadata, never through a redirect."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from agent.appkeys import DB
from agent.db import Database
from agent.matching import mark_paid
from agent.merchants import Merchant
from agent.notify import NOTIFIER
from agent.notify.egress import EgressPolicy, NotifyRefused
from agent.orders import Order
from agent.web.listening import Listening
from tests.support.eventually import eventually
from tests.support.factories import add_code, insert_order
from tests.support.gateway import RunningGateway, loopback_socket
from tests.support.merchant_site import serve_merchant_site


async def paid_with_notify_url(gateway: RunningGateway, merchant: Merchant, notify_url: str) -> Order:
    code = await add_code(gateway.app)
    order = await insert_order(gateway.app, merchant, code, notify_url=notify_url)
    await mark_paid(gateway.app[DB], order.trade_no, actor="test", reason="paid")
    gateway.app[NOTIFIER].wake()
    return order


async def first_attempt(db: Database, trade_no: str) -> tuple[Any, ...] | None:
    row = await db.fetchone(
        "SELECT a.outcome, a.http_status, a.body_excerpt, j.last_error FROM notify_attempts a "
        "JOIN notify_jobs j USING (trade_no) WHERE trade_no = ? ORDER BY a.id LIMIT 1",
        (trade_no,),
    )
    return None if row is None else tuple(row)


@asynccontextmanager
async def serve(routes: web.RouteTableDef) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    sock = loopback_socket()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_notify_to_the_gateways_own_metrics_is_refused(
    gateway: RunningGateway, merchant: Merchant, host: str
) -> None:
    port = gateway.url.rsplit(":", 1)[1]
    order = await paid_with_notify_url(gateway, merchant, f"http://{host}:{port}/metrics")
    attempt = await eventually(lambda: first_attempt(gateway.app[DB], order.trade_no))
    outcome, status, excerpt, error = attempt
    assert (outcome, status, excerpt) == ("error", None, "")
    assert "refused" in error and "gateway's own" in error
    assert "mapay_" not in excerpt + error


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(gateway: RunningGateway, merchant: Merchant) -> None:
    hits: list[str] = []
    routes = web.RouteTableDef()

    @routes.get("/notify")
    async def redirect(request: web.Request) -> web.Response:
        hits.append("notify")
        raise web.HTTPFound("/elsewhere")

    @routes.get("/elsewhere")
    async def elsewhere(request: web.Request) -> web.Response:
        hits.append("elsewhere")
        return web.Response(text="success")

    async with serve(routes) as url:
        order = await paid_with_notify_url(gateway, merchant, url + "/notify")
        attempt = await eventually(lambda: first_attempt(gateway.app[DB], order.trade_no))
    outcome, status, _, error = attempt
    assert (outcome, status) == ("rejected", 302)
    assert "redirect to /elsewhere not followed" in error
    assert "elsewhere" not in hits


@pytest.mark.parametrize("settings_overrides", [{"notify_allow_private": False}])
async def test_private_and_loopback_merchants_are_refused_when_not_allowed(
    gateway: RunningGateway, merchant: Merchant
) -> None:
    async with serve_merchant_site(merchant.key) as site:
        by_name = site.url.replace("127.0.0.1", "localhost")  # judged on the address the name resolves to
        orders = [await paid_with_notify_url(gateway, merchant, url) for url in (site.url, by_name)]
        for order in orders:
            outcome, _, _, error = await eventually(lambda o=order: first_attempt(gateway.app[DB], o.trade_no))  # type: ignore[misc]
            assert outcome == "error" and "private or loopback" in error
    assert site.received == []


async def test_a_merchant_on_the_same_host_is_notified_by_default(gateway: RunningGateway, merchant: Merchant) -> None:
    async with serve_merchant_site(merchant.key) as site:
        code = await add_code(gateway.app)
        order = await insert_order(gateway.app, merchant, code, notify_url=site.url)
        site.expect(order.out_trade_no, "10.00")
        await mark_paid(gateway.app[DB], order.trade_no, actor="test", reason="paid")
        gateway.app[NOTIFIER].wake()
        await eventually(lambda: site.acknowledged)


def _addr_info(host: str, port: int = 80) -> tuple[Any, ...]:
    if ":" in host:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (host, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254"]
)
@pytest.mark.parametrize("allow_private", [True, False])
def test_link_local_and_metadata_addresses_get_no_socket(host: str, allow_private: bool) -> None:
    """The connector asks for a socket per resolved address; these never get one, so nothing is sent."""
    policy = EgressPolicy(allow_private=allow_private, listening=Listening())
    with pytest.raises(NotifyRefused, match="link-local or cloud metadata"):
        policy.socket_factory(_addr_info(host))


def test_the_own_listening_port_is_refused_on_every_local_address_when_bound_to_all() -> None:
    policy = EgressPolicy(allow_private=True, listening=Listening("0.0.0.0", 8000))
    assert policy.refusal("127.0.0.1", 8000) == "the gateway's own address"
    assert policy.refusal("::1", 8000) == "the gateway's own address"
    assert policy.refusal("127.0.0.1", 8001) is None
    assert policy.refusal("203.0.113.7", 8000) is None  # another machine's port 8000
    assert EgressPolicy(allow_private=False, listening=Listening()).refusal("10.1.2.3", 80) is not None
    assert EgressPolicy(allow_private=False, listening=Listening()).refusal("8.8.8.8", 80) is None  # a decision only: nothing connects


def test_the_public_url_and_other_schemes_are_refused() -> None:
    policy = EgressPolicy(allow_private=True, listening=Listening(), public_url="https://pay.example.com/")
    assert policy.url_refusal("https://pay.example.com/metrics") == "the gateway's own public URL"
    assert policy.url_refusal("https://pay.example.com.shop.example/notify") is None
    assert policy.url_refusal("file:///etc/passwd") == "only http(s) URLs are notified"
    assert policy.url_refusal("https://shop.example/notify?x=1") is None
