"""Load and validate profile files, with errors that name the file and the field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from agent.profiles.model import Profile


class ProfileError(ValueError):
    """A profile file is missing, not YAML, or does not match the format."""


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_profile(path: Path) -> Profile:
    """Parse and validate one profile file; its file name must be its slug."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping at the top level")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ProfileError(f"{path}: {problems}") from exc
    if profile.slug != path.stem:
        raise ProfileError(f"{path}: slug: {profile.slug!r} must match the file name {path.stem!r}")
    return profile


@lru_cache(maxsize=64)
def _cached(path: Path, mtime_ns: int) -> Profile:
    return load_profile(path)


def profile_for(profiles_dir: Path, slug: str) -> Profile:
    """The profile of platform ``slug`` (reloaded when its file changes)."""
    path = profiles_dir / f"{slug}.yaml"
    if not path.is_file():
        raise ProfileError(f"{path}: no profile for platform {slug!r}")
    return _cached(path, path.stat().st_mtime_ns)


def all_profiles(profiles_dir: Path) -> dict[str, Profile]:
    """Every profile in the folder, by slug; the first invalid file raises."""
    return {path.stem: profile_for(profiles_dir, path.stem) for path in sorted(profiles_dir.glob("*.yaml"))}
