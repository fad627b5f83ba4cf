"""Profiles: the YAML files of notebook parameters (``profiles/<name>.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sclesion.core.errors import InputError
from sclesion.core.paths import profiles_dir
from sclesion.core.yamlfile import read_mapping


def profile_path(name_or_path: str | Path) -> Path:
    """Resolve a profile name (``demo``, ``smoke``, ``paper``) or a path to its YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yml", ".yaml"):
        path = candidate
    else:
        path = profiles_dir() / f"{name_or_path}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in profiles_dir().glob("*.yml"))
        raise InputError(f"no such profile; known profiles: {', '.join(known)}", path)
    return path


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """Load a profile as a dict of parameters.

    Raises
    ------
    InputError
        If the file is missing or is not a YAML mapping.
    """
    return read_mapping(profile_path(name_or_path))
