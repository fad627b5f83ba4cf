"""Profiles: the YAML files of notebook parameters (``profiles/<name>.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sclesion.errors import InputError
from sclesion.paths import profiles_dir


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
    path = profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({err})", path) from None
    if not isinstance(data, dict):
        raise InputError("a profile must be a YAML mapping of parameter names to values", path)
    return data
