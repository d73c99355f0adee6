"""Admin pages link their CSS/JS with a content hash computed once, not by reading the files on every request."""

from __future__ import annotations

import hashlib
import re
import sys
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import aiohttp
from yarl import URL

from agent.admin.plumbing import SESSION_COOKIE, admin_auth
from agent.appkeys import DB
from tests.support.gateway import RunningGateway

STATIC = resources.files("agent.admin") / "static"
_opened: list[str] | None = None


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _opened is not None:
        _opened.append(str(args[0]))


sys.addaudithook(_record_open)  # hooks cannot be removed; this one records only inside files_opened()


@contextmanager
def files_opened() -> Iterator[list[str]]:
    """Every file this process opens meanwhile (Python's "open" audit event)."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def linked_versions(html: str) -> dict[str, str]:
    """The ``?v=`` hash of every admin static file a page links to."""
    urls = (URL(href) for href in re.findall(r'(?:href|src)="(/static/admin/[^"]+)"', html))
    return {url.name: url.query["v"] for url in urls}


def content_hash(name: str) -> str:
    return urlsafe_b64encode(hashlib.sha256((STATIC / name).read_bytes()).digest()).decode()


async def test_pages_link_hashed_assets_without_reading_them_per_request(gateway: RunningGateway, admin_name: str) -> None:
    db = gateway.app[DB]
    admin_id = await db.fetchval("SELECT id FROM admins WHERE username = ?", (admin_name,))
    token = await admin_auth(gateway.settings, db).open_session(admin_id)
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:

        async def page(path: str) -> str:
            async with http.get(f"{gateway.url}/admin{path}", allow_redirects=False) as response:
                assert response.status == 200, path
                return await response.text()

        first = await page("/")
        assert linked_versions(first) == {name: content_hash(name) for name in ("admin.css", "admin.js")}
        with files_opened() as opened:
            again = [await page(path) for path in ("/", "/login", "/orders", "/", "/login")]
    assert all(linked_versions(html)["admin.css"] == content_hash("admin.css") for html in again)
    assert [path for path in opened if path.endswith(("admin.css", "admin.js"))] == []
