"""What the running demo knows: its shop, its simulated accounts and back offices (an app key for views)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from agent.db import Database
from agent.demo.shop import DemoShop
from agent.demo.sms import SmsReader
from agent.demo.world import SimulatedAccount
from fixtures.server import BackOffice


@dataclass
class Demo:
    url: str  # the gateway's base URL
    data_dir: Path
    db: Database  # the gateway's database
    shop: DemoShop
    accounts: dict[str, SimulatedAccount]  # platform slug -> its one demo account
    offices: dict[str, BackOffice]
    http: aiohttp.ClientSession
    sms: SmsReader

    @property
    def page_url(self) -> str:
        return f"{self.url}/demo"

    def account_of(self, account_id: int) -> SimulatedAccount | None:
        return next((a for a in self.accounts.values() if a.account_id == account_id), None)


DEMO = web.AppKey("demo", Demo)
