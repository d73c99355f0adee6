"""One Jinja environment per app; each HTML-rendering package plugs its own template folder into it.

Templates are addressed as ``<prefix>/<name>`` (``cashier/pay.html``), so packages never shadow each other's
files, and autoescaping is on for everything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web


def _asset_urls(app: web.Application) -> Callable[[str, str], str]:
    @cache
    def asset(route_name: str, filename: str) -> str:
        """URL of a static file with its content hash, computed once (aiohttp hashes the file on every call)."""
        return str(app.router[route_name].url_for(filename=filename))

    return asset


def _environment(app: web.Application) -> jinja2.Environment:
    env = app.get(aiohttp_jinja2.APP_KEY)
    if env is None:
        env = aiohttp_jinja2.setup(
            app,
            loader=jinja2.PrefixLoader({}),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.globals["asset"] = _asset_urls(app)
    return env


def add_templates(app: web.Application, prefix: str, package: str, folder: str = "templates") -> None:
    """Make ``<package>/<folder>/<name>`` renderable as ``<prefix>/<name>``."""
    env = _environment(app)
    if not isinstance(env.loader, jinja2.PrefixLoader):
        raise RuntimeError("the Jinja environment was not created by agent.web.templates")
    if prefix in env.loader.mapping:
        raise ValueError(f"template prefix {prefix!r} is already registered")
    env.loader = jinja2.PrefixLoader({**env.loader.mapping, prefix: jinja2.PackageLoader(package, folder)})


def add_static(app: web.Application, prefix: str, package: str, folder: str = "static") -> str:
    """Serve ``<package>/<folder>`` under ``/static/<prefix>/``; returns the route name for ``url()``.

    In templates, ``asset(name, filename)`` gives the file's URL with a content hash, so browsers never run
    stale code and the files can be cached.
    """
    name = f"{prefix}-static"
    path = Path(str(resources.files(package) / folder))
    app.router.add_static(f"/static/{prefix}/", path, name=name, append_version=True)
    return name
