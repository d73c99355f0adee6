"""系统设置: the effective configuration, read-only, with every secret masked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup, escape
from pydantic import SecretStr

from agent.admin.plumbing import render
from agent.alerts.channels import url_label
from agent.appkeys import SETTINGS
from agent.settings import Settings
from agent.settings_zh import DESCRIPTIONS

routes = web.RouteTableDef()

MASK = "已设置（隐藏）"
_SECRET_WORDS = ("secret", "password", "key", "token")
_LITERAL = re.compile(r"``(.+?)``")


@dataclass(frozen=True, slots=True)
class SettingRow:
    env: str
    value: str
    zh: str  # what it means, for the merchant
    doc: Markup  # the developers' English docstring, ``literals`` as <code>


def docstring_html(text: str) -> Markup:
    """A field docstring (reStructuredText's ``literal`` markup) as HTML: escaped, literals in <code>."""
    escaped = str(escape(" ".join(text.split())))
    return Markup(_LITERAL.sub(r"<code>\1</code>", escaped))


def _shown(name: str, value: object) -> str:
    if value is None:
        return "（未设置）"
    if isinstance(value, SecretStr) or any(word in name for word in _SECRET_WORDS):
        return MASK
    if name == "alert_urls" and isinstance(value, list):  # each URL holds its channel's token: position and scheme
        return ", ".join(url_label(i, str(url)) for i, url in enumerate(value, 1)) or "（空）"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "（空）"
    return str(value)


def effective_settings(settings: Settings) -> list[SettingRow]:
    return [
        SettingRow(f"MAPAY_{name.upper()}", _shown(name, getattr(settings, name)), DESCRIPTIONS.get(name, ""),
                   docstring_html(field.description or ""))
        for name, field in type(settings).model_fields.items()
    ]


@routes.get("/settings")
async def settings_page(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    return render(request, "settings.html", {"rows": effective_settings(settings), "base_url": settings.base_url})
