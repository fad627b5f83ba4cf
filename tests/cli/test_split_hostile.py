"""`sclesion split` against hostile input: outputs over inputs, bad options, stale splits."""

from __future__ import annotations

import pytest

from sclesion.data.split import read_split


def test_never_writes_over_participants_or_the_exclusions_even_with_force(cli, h, tiny_bids, tmp_path):
    exclusions = tmp_path / "excl.tsv"
    exclusions.write_text("participant_id\treason\nsub-tum005\tartefact\n")
    before = h.digests(tiny_bids, exclusions)
    for target in (tiny_bids / "participants.tsv", exclusions):
        for force in ([], ["--force"]):
            h.refused(cli("split", tiny_bids, "-o", target, "--exclusions", exclusions, *force), str(target),
                      "is an input")
    assert h.digests(tiny_bids, exclusions) == before


@pytest.mark.parametrize("option", ["--seed=-1", "--seed=x", "--test-fraction=nan", "--test-fraction=2",
                                    "--test-fraction=-0.1"])
def test_out_of_range_options_are_refused(cli, h, tiny_bids, tmp_path, option):
    h.refused(cli("split", tiny_bids, "-o", tmp_path / "s.tsv", option), option.split("=")[0])
    assert not (tmp_path / "s.tsv").exists()


def test_a_missing_exclusion_list_or_an_unwritable_folder_is_one_line(cli, h, tiny_bids, tmp_path):
    h.refused(cli("split", tiny_bids, "-o", tmp_path / "s.tsv", "--exclusions", tmp_path / "nope.tsv"),
              str(tmp_path / "nope.tsv"), "not found")
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    h.refused(cli("split", tiny_bids, "-o", blocker / "s.tsv"), str(blocker), "is a file")


def test_a_split_of_ours_follows_its_inputs_and_options(cli, tiny_bids, tmp_path):
    out = tmp_path / "s.tsv"
    assert "wrote" in cli("split", tiny_bids, "-o", out).out
    assert "up to date" in cli("split", tiny_bids, "-o", out).out
    assert "rewrote" in cli("split", tiny_bids, "-o", out, "--test-fraction", "0.5").out
    assert (read_split(out)["split"] == "test").sum() == 3 + 1  # half of 5 TUM (2.5, rounded half up), and UCSF
    exclusions = tmp_path / "excl.tsv"
    exclusions.write_text("participant_id\treason\nsub-tum005\tartefact\n")
    assert "rewrote" in cli("split", tiny_bids, "-o", out, "--test-fraction", "0.5", "--exclusions", exclusions).out
    assert "sub-tum005" not in set(read_split(out)["participant_id"])
