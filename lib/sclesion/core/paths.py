"""Where the repository's data manifest and profiles live.

The package is installed in editable mode from ``lib/``, so the repository root is three folders above
this file. Set ``SCLESION_ROOT`` to use another checkout's ``data_manifest/`` and ``profiles/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """Return the repository root (the folder holding ``data_manifest/``)."""
    env = os.environ.get("SCLESION_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


def manifest_dir() -> Path:
    """Return ``<root>/data_manifest``."""
    return repo_root() / "data_manifest"


def profiles_dir() -> Path:
    """Return ``<root>/profiles``."""
    return repo_root() / "profiles"
