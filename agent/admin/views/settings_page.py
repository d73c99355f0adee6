"""系统设置: the effective configuration, read-only, with every secret masked."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from pydantic import SecretStr

from agent.admin.plumbing import render
from agent.alerts.channels import url_label
from agent.appkeys import SETTINGS
from agent.settings import Settings

routes = web.RouteTableDef()

MASK = "已设置（隐藏）"
_SECRET_WORDS = ("secret", "password", "key", "token")


@dataclass(frozen=True, slots=True)
class SettingRow:
    env: str
    value: str
    doc: str


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
        SettingRow(f"MAPAY_{name.upper()}", _shown(name, getattr(settings, name)), field.description or "")
        for name, field in type(settings).model_fields.items()
    ]


@routes.get("/settings")
async def settings_page(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    return render(request, "settings.html", {"rows": effective_settings(settings), "base_url": settings.base_url})
