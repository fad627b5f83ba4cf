"""`sclesion stitch` against hostile input: bad chunks, outputs over inputs, stale outputs, leftovers."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.atomic import TEMPORARY_TAG, temporary_prefix


def _chunks(h, folder, n=3, ext=".nii.gz"):
    """``n`` chunks of one session, 8 slices each with a 2-slice overlap, along axis 2."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        affine = np.eye(4)
        affine[2, 3] = 6.0 * k
        data = rng.random((10, 10, 8)).astype(np.float32) + 1
        paths.append(h.save(folder / f"sub-a_ses-1_acq-ax_chunk-{k + 1}_T2w{ext}", data, affine))
    return paths


@pytest.fixture
def chunks(h, tmp_path):
    return _chunks(h, tmp_path / "in")


def test_a_bad_chunk_is_one_line_naming_it(cli, h, chunks, tmp_path):
    out = tmp_path / "out" / "sub-a_ses-1_acq-ax_T2w.nii.gz"
    data = np.asanyarray(nib.load(chunks[1]).dataobj).copy()
    data[0, 0, 0] = np.nan
    h.save(chunks[1], data, nib.load(chunks[1]).affine)
    h.refused(cli("stitch", "-i", *chunks, "-o", out), str(chunks[1]), "non-finite")
    h.truncate(chunks[1])
    h.refused(cli("stitch", "-i", *chunks, "-o", out), str(chunks[1]), "cannot read")
    chunks[1].write_bytes(b"")
    h.refused(cli("stitch", "-i", *chunks, "-o", out), str(chunks[1]), "cannot read")
    h.save(chunks[1], np.zeros((10, 10, 8, 2), np.float32))
    h.refused(cli("stitch", "-i", *chunks, "-o", out), str(chunks[1]), "4D")
    assert not out.exists()


def test_never_writes_over_an_input(cli, h, chunks, tmp_path):
    before = h.digests(*chunks)
    h.refused(cli("stitch", "-i", *chunks, "-o", chunks[0]), str(chunks[0]), "is an input")
    link = tmp_path / "link.nii.gz"
    os.link(chunks[2], link)  # another name for the same file
    h.refused(cli("stitch", "-i", *chunks, "-o", link), str(link), "is an input")
    assert h.digests(*chunks) == before


def test_an_output_under_a_file_is_one_line(cli, h, chunks, tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    h.refused(cli("stitch", "-i", *chunks, "-o", blocker / "o.nii.gz"), str(blocker), "is a file")


def test_another_set_of_chunks_or_a_changed_chunk_restitches(cli, h, chunks, tmp_path):
    out = tmp_path / "out" / "whole_T2w.nii.gz"
    two = cli("stitch", "-i", *chunks[:2], "-o", out)
    assert "written" in two.out and "2 chunks" in two.out
    assert nib.load(out).shape[2] == 14
    three = cli("stitch", "-i", *chunks, "-o", out)
    assert "rewritten" in three.out and "3 chunks" in three.out
    assert nib.load(out).shape[2] == 20  # the file on disk holds what the line says
    assert "up to date" in cli("stitch", "-i", *chunks, "-o", out).out
    h.save(chunks[0], np.full((10, 10, 8), 7.5, np.float32), nib.load(chunks[0]).affine)
    assert "rewritten" in cli("stitch", "-i", *chunks, "-o", out).out
    assert np.asanyarray(nib.load(out).dataobj)[:, :, 0].mean() == pytest.approx(7.5)


def test_uncompressed_chunks_and_outputs_work(cli, h, tmp_path):
    chunks = _chunks(h, tmp_path / "plain", ext=".nii")
    result = cli("stitch", "-i", *chunks, "-o", tmp_path / "whole_T2w.nii")
    assert result.status == 0 and nib.load(tmp_path / "whole_T2w.nii").shape == (10, 10, 20)


def test_temporaries_of_a_killed_writer_are_removed_and_a_live_writers_kept(cli, h, chunks, tmp_path):
    out = tmp_path / "out" / "whole_T2w.nii.gz"
    out.parent.mkdir()
    mine = temporary_prefix(out)  # .whole_T2w.nii.gz.sclesion-<host>-<this pid>.
    assert TEMPORARY_TAG in mine
    dead = out.parent / (mine.replace(f"-{os.getpid()}.", f"-{h.dead_pid()}.") + "k2j3.part.nii.gz")
    live = out.parent / (mine.replace(f"-{os.getpid()}.", f"-{os.getppid()}.") + "x9a1.part.nii.gz")
    unrelated = out.parent / ".keep-me.part"
    for path in (dead, live, unrelated):
        path.write_bytes(b"half")
    assert cli("stitch", "-i", *chunks, "-o", out).status == 0
    assert not dead.exists() and live.exists() and unrelated.exists()
