"""Rows to typed records, by column name (never by position)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

_R = TypeVar("_R")


def record(cls: type[_R], row: Any) -> _R:
    """``cls`` (a dataclass) built from the row's columns of the same names; extra columns are ignored."""
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def records(cls: type[_R], rows: Iterable[Any]) -> list[_R]:
    return [record(cls, row) for row in rows]
