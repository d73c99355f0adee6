"""Failure snapshots the browser agent leaves under ``<data_dir>/snapshots/<account_id>/<timestamp>/``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}(?:\.[0-9]+)?Z$")
FILES = {"screenshot.png": "image/png", "page.html": "text/plain", "error.json": "application/json"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    stamp: str
    info: dict[str, Any]
    has_screenshot: bool
    has_page: bool


def _folder(data_dir: Path, account_id: int) -> Path:
    return data_dir / "snapshots" / str(account_id)


def latest(data_dir: Path, account_id: int) -> Snapshot | None:
    folder = _folder(data_dir, account_id)
    if not folder.is_dir():
        return None
    stamps = sorted((p.name for p in folder.iterdir() if p.is_dir() and _STAMP.fullmatch(p.name)), reverse=True)
    if not stamps:
        return None
    path = folder / stamps[0]
    try:
        info = json.loads((path / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    return Snapshot(stamps[0], info, (path / "screenshot.png").is_file(), (path / "page.html").is_file())


def file_path(data_dir: Path, account_id: int, stamp: str, name: str) -> Path | None:
    """The snapshot file, or None for anything outside the known names and folder pattern (no traversal)."""
    if name not in FILES or not _STAMP.fullmatch(stamp):
        return None
    path = _folder(data_dir, account_id) / stamp / name
    return path if path.is_file() else None
