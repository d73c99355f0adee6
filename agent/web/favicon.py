"""``/favicon.ico``: every browser asks for it on every page; a 404 there fills logs and consoles.

A small SVG (a blue rounded square with 码), served with a day of caching. Browsers take SVG at this path.
"""

from __future__ import annotations

from aiohttp import web

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="14" fill="#1664ff"/>'
    '<text x="32" y="45" font-size="36" text-anchor="middle" fill="#fff" '
    'font-family="Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif">码</text></svg>'
)


async def favicon(request: web.Request) -> web.Response:
    return web.Response(text=ICON, content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
