"""A hook module for the test-only seventh platform: reads the shop name the login page shows."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page


async def read_shop(page: Page, values: dict[str, Any]) -> dict[str, str]:
    return {"shop": await page.title()}
