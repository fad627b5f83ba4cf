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


class Chromium:
    """Headless Chromium (Debian's package, installed by ``.ci/run``), for pages that a person must see."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--virtual-time-budget=5000")

    def __init__(self, executable: str, profile_dir: Path):
        self.executable = executable
        self.profile_dir = profile_dir

    def _run(self, args: list[str], timeout: float) -> str:
        import subprocess

        done = subprocess.run([self.executable, *self.FLAGS, f"--user-data-dir={self.profile_dir}", *args],
                              capture_output=True, text=True, timeout=timeout, check=True)
        return done.stdout

    def dom(self, page: Path, timeout: float = 60) -> str:
        """The page's DOM after its scripts ran (``--dump-dom``)."""
        return self._run(["--dump-dom", page.resolve().as_uri()], timeout)

    def screenshot(self, page: Path, png: Path, size: tuple[int, int] = (1280, 900), timeout: float = 60) -> Path:
        """A PNG of the page as a person sees it in a window of ``size`` pixels (width, height)."""
        self._run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()], timeout)
        return png


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Chromium:
    """Headless Chromium; the test is skipped where it is not installed (``.ci/run`` installs it)."""
    import os
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
