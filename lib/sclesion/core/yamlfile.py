"""Reading the project's YAML files (profiles, cohort specs, site descriptions) with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sclesion.core.errors import InputError


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping.

    Raises
    ------
    InputError
        If the file is not valid YAML or does not hold a mapping (naming the file).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({err})", path) from None
    if not isinstance(data, dict):
        raise InputError("expected a YAML mapping of names to values", path)
    return data
