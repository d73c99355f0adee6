"""Asking ``/healthz`` until its browser check has an answer (the first check may outlast one request)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

SETTLE_SECONDS = 90.0


async def healthz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
        return response.status, await response.json()


async def settled_healthz(url: str) -> tuple[int, dict[str, Any]]:
    """The first answer whose browser status is not ``unknown`` (a loaded machine starts Chromium slowly)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while True:
        status, body = await healthz(url)
        if body.get("browser", {}).get("status") != "unknown" or asyncio.get_running_loop().time() > deadline:
            return status, body
        await asyncio.sleep(0.5)
