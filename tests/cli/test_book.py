"""`sclesion book`: a failed notebook is one line on stderr and exit status 1, not a traceback."""

from __future__ import annotations

import sclesion.book
from sclesion.cli import main as cli
from sclesion.core.errors import BookError


def test_a_failed_notebook_is_one_line_and_exit_status_1(capsys, monkeypatch):
    def failing_build(*args, **kwargs):
        raise BookError("notebooks/02_stitching.ipynb: cell 7 (`stitched = ...`) still running after 1200 s")

    monkeypatch.setattr(sclesion.book, "build", failing_build)
    status = cli.main(["book", "--profile", "smoke", "--no-render"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err == ["sclesion book: failed: notebooks/02_stitching.ipynb: cell 7 (`stitched = ...`) still running "
                   "after 1200 s"]


def test_overrides_reach_the_build_as_yaml_values(capsys, monkeypatch):
    seen = {}

    def recording_build(profile, overrides, only, render):
        seen.update(profile=profile, overrides=overrides, only=only, render=render)
        return "index.html"

    monkeypatch.setattr(sclesion.book, "build", recording_build)
    assert cli.main(["book", "--profile", "paper", "-p", "n_jobs", "4", "-p", "subject", "sub-tum001"]) == 0
    assert seen == {"profile": "paper", "overrides": {"n_jobs": 4, "subject": "sub-tum001"}, "only": None,
                    "render": True}
