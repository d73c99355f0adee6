"""Declarative per-platform profiles (``profiles/*.yaml``) and the engine that runs them in a browser."""

from agent.profiles.loader import (
    ProfileError,
    all_profiles,
    load_profile,
    profile_file,
    profile_files,
    profile_for,
)
from agent.profiles.model import Profile

__all__ = ["Profile", "ProfileError", "all_profiles", "load_profile", "profile_file", "profile_files", "profile_for"]
