"""`sclesion synth` against hostile input: bad options, a file as output, leftovers, workers killed with it."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from sclesion.core.atomic import temporary_prefix


@pytest.mark.parametrize("option", ["--seed=-1", "--seed=1.5", "--jobs=0", "--jobs=-2", "--n-jobs=0"])
def test_out_of_range_options_are_refused(cli, h, tmp_path, option):
    h.refused(cli("synth", "--profile", "smoke", "-o", tmp_path / "bids", option), option.split("=")[0])
    assert not (tmp_path / "bids").exists()


def test_an_existing_file_or_a_folder_under_a_file_is_one_line_and_untouched(cli, h, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    h.refused(cli("synth", "--profile", "smoke", "-o", existing, "--quiet"), str(existing), "is a file")
    assert existing.read_text() == "keep me\n"
    h.refused(cli("synth", "--profile", "smoke", "-o", existing / "bids", "--quiet"), str(existing), "is a file")


def test_a_folder_that_is_not_a_cohort_is_never_overwritten(cli, h, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    h.refused(cli("synth", "--profile", "smoke", "-o", folder, "--quiet"), str(folder), "not a synthetic cohort")
    assert (folder / "thesis.tex").read_text() == "x"


def test_temporary_folders_of_a_killed_run_are_removed(cli, h, smoke_bids, tmp_path):
    out = tmp_path / "bids"
    shutil.copytree(smoke_bids, out)
    prefix = temporary_prefix(out)
    dead = tmp_path / (prefix.replace(f"-{os.getpid()}.", f"-{h.dead_pid()}.") + "abcd.part")
    (dead / "sub-tum001").mkdir(parents=True)
    result = cli("synth", "--profile", "smoke", "-o", out, "--quiet", "--checksums", "skip")
    assert result.status == 0 and "up to date" in result.out
    assert not dead.exists()


def test_workers_die_with_a_killed_parent(h, tmp_path):
    h.kill_and_check_workers([sys.executable, "-m", "sclesion", "synth", "--profile", "smoke", "-o",
                              str(tmp_path / "bids"), "--jobs", "2", "--quiet", "--checksums", "skip"], h.env())
    assert not (tmp_path / "bids").exists()  # nothing half-generated under the final name
