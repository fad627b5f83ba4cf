"""`sclesion check` against hostile datasets: labels without images, bad files, bad options."""

from __future__ import annotations

import shutil

import numpy as np


def test_a_clean_dataset_passes(cli, tiny_bids):
    result = cli("check", tiny_bids, "--quiet")
    assert result.status == 0 and "no problems" in result.out


def test_a_label_of_a_chunk_without_an_image_is_reported(cli, h, tiny_bids):
    labels = tiny_bids / "derivatives" / "labels" / "sub-tum001" / "ses-1" / "anat"
    orphan = h.save(labels / "sub-tum001_ses-1_acq-ax_chunk-4_T2w_lesion-manual.nii.gz", np.zeros((6, 6, 4), np.uint8))
    result = cli("check", tiny_bids, "--quiet")
    assert result.status == 1
    assert any(line.startswith(f"{orphan}: label without an image") for line in result.out.splitlines())


def test_a_label_tree_of_a_subject_without_images_is_reported(cli, tiny_bids):
    labels = tiny_bids / "derivatives" / "labels"
    shutil.copytree(labels / "sub-tum002", labels / "sub-tum099")
    for path in (labels / "sub-tum099").rglob("*.nii.gz"):
        path.rename(path.with_name(path.name.replace("tum002", "tum099")))
    result = cli("check", tiny_bids, "--quiet")
    assert result.status == 1
    assert sum("label without an image" in line and "sub-tum099" in line for line in result.out.splitlines()) == 4


def test_bad_files_are_one_line_each_and_the_check_goes_on(cli, h, tiny_bids):
    anat = tiny_bids / "sub-tum003" / "ses-1" / "anat"
    h.truncate(anat / "sub-tum003_ses-1_acq-ax_chunk-1_T2w.nii.gz")
    labels = tiny_bids / "derivatives" / "labels" / "sub-tum004" / "ses-1" / "anat"
    affine = np.eye(4)
    affine[2, 3] = 6.0  # chunk 2's grid
    h.save(labels / "sub-tum004_ses-1_acq-ax_chunk-2_T2w_seg-manual.nii.gz", np.full((6, 6, 4), 255, np.uint8), affine)
    result = cli("check", tiny_bids, "--quiet")
    assert result.status == 1 and "Traceback" not in result.err
    problems = [line for line in result.out.splitlines() if ": " in line and "checked" not in line]
    assert len(problems) == 2
    assert "truncated or corrupt" in problems[0] or "cannot read" in problems[0]
    assert "not binary" in problems[1]


def test_a_bad_tolerance_is_refused(cli, h, tiny_bids):
    h.refused(cli("check", tiny_bids, "--atol-mm=nan"), "--atol-mm")
    h.refused(cli("check", tiny_bids, "--atol-mm=-1"), "--atol-mm")


def test_a_missing_dataset_is_one_line(cli, h, tmp_path):
    h.refused(cli("check", tmp_path / "nope"), str(tmp_path / "nope"), "not a folder")
