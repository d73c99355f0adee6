"""A recorded profile as YAML in the engine's format, with the recorder's notes and TODO(maintainer) marks.

The draft is validated by loading it with the engine's own loader before it is written: a recording
never leaves a file the agent cannot load.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.profiles import Profile, load_profile
from agent.recorder.decisions import TODO_MARK, Decision


class RecordingError(Exception):
    """The recording lacks something a profile needs (no password typed, no transaction list opened)."""


@dataclass
class Draft:
    name: str
    data: dict[str, Any]
    decisions: list[Decision]
    notes: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    """Records as the provider showed them while recording (for the maintainer to compare)."""
    path: Path | None = None

    def render(self) -> str:
        lines = yaml.safe_dump(self.data, allow_unicode=True, sort_keys=False, width=120).splitlines()
        header = list(self.header)
        for decision in self.decisions:
            index = line_of(lines, decision.path)
            if index is None:  # a key the dump does not show on a line of its own: ask at the top
                header.append(f"{TODO_MARK}: {decision.path}: {decision.question}")
            else:
                lines[index] += f"  # {TODO_MARK}: {decision.question}"
        head = [f"# {line}" if line else "#" for line in header]
        head += [f"# note: {note}" for note in self.notes]
        return "\n".join([*head, "", *lines]) + "\n"

    def write(self, path: Path) -> Profile:
        """Validate with the engine's loader, then write ``path`` (replacing it in one step)."""
        text = self.render()
        with tempfile.TemporaryDirectory(prefix="mapay-draft-") as folder:
            candidate = Path(folder) / f"{self.name}.yaml"
            candidate.write_text(text, encoding="utf-8")
            profile = load_profile(candidate)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.replace(path, path.with_name(path.name + ".bak"))
        path.write_text(text, encoding="utf-8")
        self.path = path
        return profile


def line_of(lines: list[str], path: str) -> int | None:
    """The line of a dotted key path in block YAML as safe_dump writes it."""
    index, indent = -1, -1
    for part in path.split("."):
        for i in range(index + 1, len(lines)):
            text = lines[i].lstrip(" ")
            depth = len(lines[i]) - len(text)
            if text and depth <= indent:
                return None  # left the parent's block without finding the key
            if depth > indent and text.lstrip("- ").split(":", 1)[0].strip("'\"") == part:
                index, indent = i, depth
                break
        else:
            return None
    return index


def unresolved(text: str) -> list[str]:
    """The TODO(maintainer) marks still in a profile file's text."""
    mark = f"# {TODO_MARK}:"
    return [line.split(mark, 1)[1].strip() for line in text.splitlines() if mark in line]
