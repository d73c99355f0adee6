"""Load and validate profile files, with errors that name the file and the field."""

from __future__ import annotations

from collections.abc import Sequence
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


def _folders(dirs: Path | Sequence[Path]) -> tuple[Path, ...]:
    return (dirs,) if isinstance(dirs, Path) else tuple(dirs)


def profile_file(dirs: Path | Sequence[Path], slug: str) -> Path:
    """The file of platform ``slug``: the first folder holding ``<slug>.yaml`` wins (the deployer's first)."""
    folders = _folders(dirs)
    for folder in folders:
        path = folder / f"{slug}.yaml"
        if path.is_file():
            return path
    where = ", ".join(str(folder) for folder in folders)
    raise ProfileError(f"{slug}.yaml: no profile for platform {slug!r} in {where}")


def profile_files(dirs: Path | Sequence[Path]) -> dict[str, Path]:
    """Every platform's file by slug, sorted by slug; a slug in several folders counts once (first folder)."""
    found: dict[str, Path] = {}
    for folder in _folders(dirs):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def profile_for(dirs: Path | Sequence[Path], slug: str) -> Profile:
    """The profile of platform ``slug`` (reloaded when its file changes)."""
    path = profile_file(dirs, slug)
    return _cached(path, path.stat().st_mtime_ns)


def all_profiles(dirs: Path | Sequence[Path]) -> dict[str, Profile]:
    """Every profile in the folders, by slug; the first invalid file raises."""
    return {slug: _cached(path, path.stat().st_mtime_ns) for slug, path in profile_files(dirs).items()}
