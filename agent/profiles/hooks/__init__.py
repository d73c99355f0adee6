"""Per-platform code for what a profile cannot express, referenced from a profile's ``hooks.module``.

A hook module defines async functions named by ``hook`` login steps: ``async def name(page, values)``
gets the page and the login values and returns new session values (declared in ``hooks.values``) or None.
None of the six built-in platforms needs one; the format keeps the door open for a seventh.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from agent.profiles.model import Profile
from agent.providers.base import LayoutChanged


def load_hooks(profile: Profile) -> ModuleType | None:
    """The profile's hook module, imported once; a missing module is a profile defect."""
    if profile.hooks is None:
        return None
    try:
        return importlib.import_module(profile.hooks.module)
    except ImportError as exc:
        raise LayoutChanged("hooks.module", f"cannot import {profile.hooks.module!r}: {exc}") from exc
