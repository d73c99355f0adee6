"""Printing results: aligned text for people, ``--json`` for scripts.

Columns are aligned by display width, not by character count: a Chinese character (East Asian wide) takes
two terminal columns, so ``"我的小店"`` is 8 columns wide (``wcwidth``). A single record is printed as one
``name  value`` line per field, so a long record (``order show``) stays readable in an 80-column terminal;
a field holding a list of records (its notify attempts) follows as a table of its own.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from wcwidth import wcswidth


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


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters count two, combining marks zero."""
    width = wcswidth(text)
    return width if width >= 0 else len(text)  # a control character: count characters rather than fail


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` display columns."""
    return text + " " * max(0, width - display_width(text))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> list[str]:
    """Lines of an aligned table of ``rows`` (a header line, then one line per row)."""
    names = list(columns or rows[0].keys())
    cells = [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(display_width(name), *(display_width(line[i]) for line in cells)) for i, name in enumerate(names)]
    return [
        "  ".join(pad(text, width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in (names, *cells)
    ]


def record(row: Mapping[str, Any]) -> list[str]:
    """Lines of one record: ``name  value`` per field; a list of records becomes an indented table after it."""
    flat = {k: v for k, v in row.items() if not _is_records(v)}
    nested = {k: v for k, v in row.items() if _is_records(v)}
    width = max((display_width(k) for k in flat), default=0)
    lines = [f"{pad(name, width)}  {_cell(value)}".rstrip() for name, value in flat.items()]
    for name, rows in nested.items():
        lines.append(f"{name}:")
        lines.extend(f"  {line}" for line in (table(rows) if rows else ["(none)"]))
    return lines


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value) and (
        not value or bool(value[0])
    )


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print one record (one field per line) or a list of records (a table)."""
    plain = _plain(data)
    if as_json:
        json.dump(plain, sys.stdout, ensure_ascii=False, indent=None)
        sys.stdout.write("\n")
        return
    if isinstance(plain, dict):
        print("\n".join(record(plain)))
        return
    rows = plain if isinstance(plain, list) else [plain]
    if not rows:
        print("(none)")
        return
    if not isinstance(rows[0], dict):
        for row in rows:
            print(row)
        return
    print("\n".join(table(rows, columns)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    return str(value).replace("\n", " ")


def fail(message: str) -> int:
    """A refusal of the command (exit 1), as one Chinese line with the same ``错误：`` prefix as a configuration
    mistake (``agent.cli.errors.report``, exit 2)."""
    print(f"错误：{message}", file=sys.stderr)
    return 1
