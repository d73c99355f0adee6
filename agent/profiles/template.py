"""Placeholders in profile strings: ``{name}``, ``{name:spec}`` and ``{name!s}``.

A profile never contains code, only templates such as ``"/api/list?token={token}"`` or a JSON body value
``"{since:ms}"``. A value that is exactly one placeholder keeps its type (an int page number stays an int
in a JSON body); ``!s`` forces a string. Datetimes need a spec: ``ms`` / ``s`` (epoch) or a strftime
pattern, rendered in the profile's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, tzinfo
from typing import Any

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?::([^{}!]*))?(?:!(s))?\}")


class TemplateError(ValueError):
    """A placeholder names no known value, or its spec does not fit the value."""


def placeholders(value: Any) -> Iterator[str]:
    """Every placeholder name used anywhere in a (nested) template value."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield match.group(1)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list):
        for item in value:
            yield from placeholders(item)


def _format(value: Any, spec: str | None, zone: tzinfo) -> Any:
    if isinstance(value, datetime):
        if spec == "ms":
            return int(value.timestamp() * 1000)
        if spec == "s":
            return int(value.timestamp())
        if not spec:
            raise TemplateError("a time placeholder needs a spec: ms, s or a strftime pattern")
        return value.astimezone(zone).strftime(spec)
    if spec:
        return format(value, spec)
    return value


def render(template: Any, values: Mapping[str, Any], zone: tzinfo) -> Any:
    """Fill placeholders in a string, or recursively in the dicts and lists of a JSON body."""
    if isinstance(template, Mapping):
        return {key: render(item, values, zone) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, values, zone) for item in template]
    if not isinstance(template, str):
        return template

    def lookup(match: re.Match[str]) -> Any:
        name, spec, conversion = match.groups()
        if name not in values:
            raise TemplateError(f"unknown placeholder {{{name}}}")
        formatted = _format(values[name], spec, zone)
        return str(formatted) if conversion else formatted

    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return lookup(whole)
    return PLACEHOLDER.sub(lambda m: str(lookup(m)), template)


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.records``, ``data.0.id``); raises KeyError when absent."""
    current = data
    for part in path.split(".") if path else ():
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(path)
    return current
