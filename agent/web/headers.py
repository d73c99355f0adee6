"""Security headers on every response the application sends (pages, JSON, static files, errors).

One ``on_response_prepare`` hook rather than a middleware: it also sees responses no handler made (the
router's 404s, static files, ``HTTPException``s). A header a handler set itself wins (the cashier's own
CSP, ``Referrer-Policy: no-referrer`` and its sandboxed pictures).
"""

from __future__ import annotations

from aiohttp import web

EVERYWHERE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # our own links keep it; other sites never see paths or trade numbers
}
# The admin console: never framed (clickjacking of 补单 or key rotation), scripts only from our files; the
# templates use a few style attributes, hence 'unsafe-inline' for styles only.
ADMIN = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}
_ADMIN_PREFIXES = ("/admin/", "/static/admin/")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in EVERYWHERE.items():
        headers.setdefault(name, value)
    if request.path == "/admin" or request.path.startswith(_ADMIN_PREFIXES):
        for name, value in ADMIN.items():
            headers.setdefault(name, value)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
