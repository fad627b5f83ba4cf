"""Shared fixtures: the repository root and the smoke synthetic cohort (generated once, cached on disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sclesion.core.paths import repo_root as _repo_root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding data_manifest/)."""
    return _repo_root()


@pytest.fixture(scope="session")
def smoke_bids(repo_root: Path) -> Path:
    """Path of the smoke synthetic cohort at ``<repo>/_data/smoke/bids``.

    Generated on first use and reused while its spec is unchanged (the generator's cache; concurrent test
    sessions wait for each other). Treat it as read-only.
    """
    from sclesion.data.synthetic import generate_cohort

    return generate_cohort("smoke", repo_root / "_data" / "smoke" / "bids", progress=False).root
