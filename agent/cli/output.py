"""Printing results: aligned text for people, ``--json`` for scripts."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print one record or a list of records."""
    plain = _plain(data)
    if as_json:
        json.dump(plain, sys.stdout, ensure_ascii=False, indent=None)
        sys.stdout.write("\n")
        return
    rows = plain if isinstance(plain, list) else [plain]
    if not rows:
        print("(none)")
        return
    if not isinstance(rows[0], dict):
        for row in rows:
            print(row)
        return
    names = list(columns or rows[0].keys())
    widths = [max(len(name), *(len(_cell(row.get(name))) for row in rows)) for name in names]
    print("  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True)))
    for row in rows:
        print("  ".join(_cell(row.get(n)).ljust(w) for n, w in zip(names, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
