"""``mapay demo`` as one async context manager: back offices, gateway with browser agent, demo shop.

Everything listens on 127.0.0.1 in this one process. The data folder is a fresh temporary directory,
deleted when the demo stops: every run starts from an empty database and logs into each back office
anew (盛付通's SMS code included, read by :class:`~agent.demo.sms.SmsReader`).
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.app import create_app
from agent.appkeys import ACCOUNTS, CODES, DB, MERCHANTS, SECRETS
from agent.demo import views
from agent.demo.shop import DemoShop
from agent.demo.sms import SmsReader
from agent.demo.state import DEMO, Demo
from agent.demo.world import SimulatedAccount, add_simulated_account
from agent.settings import Settings
from fixtures.server import PLATFORMS, BackOffice, serve_all

DEMO_USERNAME = "13800138000"  # the merchant login on every simulated back office
POLL_INTERVAL_SECONDS = 1.0  # a demo shows confirmation quickly (profiles still space reads >= 2 s)


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def running_demo(settings: Settings, port: int = 8000, office_ports: int | None = None) -> AsyncIterator[Demo]:
    """Run the whole demo for the duration of the block (``port=0``: any free port).

    ``office_ports``: the back offices listen on this port and the next five (in ``PLATFORMS`` order), for a
    firewall that opens known ports only; None takes any free ports.

    ``settings`` supplies what the machine decides (Chromium path, remote browsers, timeouts); the demo
    overrides the address, data folder, secret key and poll interval.
    """
    sock = _listening_socket(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # The shop's notify_url uses a port of its own: a notify never goes to the gateway's own listening address
    # (agent/notify/egress.py). The payer's browser returns to the shop's pages on the gateway's port.
    shop_sock = _listening_socket(0)
    shop_url = f"http://127.0.0.1:{shop_sock.getsockname()[1]}/demo"
    with tempfile.TemporaryDirectory(prefix="mapay-demo-") as folder:
        data_dir = Path(folder)
        settings = settings.model_copy(update={
            "host": "127.0.0.1", "port": sock.getsockname()[1], "public_url": url, "data_dir": data_dir,
            "secret_key": SecretStr(Fernet.generate_key().decode()), "browser_endpoints": [],
            "poll_interval_seconds": POLL_INTERVAL_SECONDS, "browser_agent": True,
        })
        ports = None if office_ports is None else {name: office_ports + i for i, name in enumerate(PLATFORMS)}
        async with serve_all(ports=ports) as offices, aiohttp.ClientSession() as http:
            app = create_app(settings)
            views.setup(app)
            app.cleanup_ctx.append(_demo_ctx(url, shop_url, data_dir, offices, http))
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            try:
                await web.SockSite(runner, sock).start()
                await web.SockSite(runner, shop_sock).start()
                yield app[DEMO]
            finally:
                await runner.cleanup()


def _demo_ctx(
    url: str, shop_url: str, data_dir: Path, offices: Mapping[str, BackOffice], http: aiohttp.ClientSession
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Cleanup context that seeds the demo merchant and accounts once the database is open, and runs
    the SMS reader while the app runs."""

    async def demo_ctx(app: web.Application) -> AsyncIterator[None]:
        merchant = await app[MERCHANTS].create("演示商户")
        accounts: dict[str, SimulatedAccount] = {}
        for n, (platform, office) in enumerate(offices.items(), start=1):
            accounts[platform] = await add_simulated_account(
                app[ACCOUNTS], app[CODES], platform, office.url, http, username=DEMO_USERNAME, terminal_id=f"DEMO{n:02d}"
            )
        async with SmsReader(app[DB], app[SECRETS], accounts.values()).running() as sms:
            shop = DemoShop(merchant, url, site_url=f"{url}/demo", notify_base=shop_url)
            app[DEMO] = Demo(url, data_dir, app[DB], shop, accounts, dict(offices), http, sms)
            yield

    return demo_ctx

