"""`sclesion apply-warp` against hostile input: bad voxels, masks, fields and options; stale outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


@pytest.fixture(scope="module")
def straightened(tube, tmp_path_factory):
    """The tube straightened (fov 10 mm): its folder, the straight cord mask and both fields."""
    from sclesion.preprocessing.straightening.straighten import straighten_files

    out = tmp_path_factory.mktemp("straight")
    written = straighten_files(tube["image"], tube["cord"], out, fov_mm=10.0, masks=(tube["cord"],))
    return {"cord": written.masks[str(tube["cord"])], "back": written.straight_to_native,
            "forward": written.native_to_straight, "straight_image": written.image}


@pytest.fixture
def files(straightened, tube, tmp_path):
    """Private copies: the straight cord mask, the inverse field and the native reference."""
    folder = tmp_path / "in"
    folder.mkdir()
    return {"mask": Path(shutil.copy(straightened["cord"], folder / "straight_seg-manual.nii.gz")),
            "field": Path(shutil.copy(straightened["back"], folder / "back_xfm.nii.gz")),
            "reference": Path(shutil.copy(tube["image"], folder / "native_T2w.nii.gz"))}


def _args(files, out, *extra, moving=None):
    return ["apply-warp", "-i", moving or files["mask"], "-w", files["field"], "-r", files["reference"], "-o", out,
            *extra]


def test_a_nan_voxel_or_a_truncated_input_is_one_line(cli, h, files, tmp_path):
    image = nib.load(files["mask"])
    data = np.asanyarray(image.dataobj).astype(np.float32)
    data[1, 1, 1] = np.nan
    moving = h.save(tmp_path / "moving.nii.gz", data, image.affine)
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", moving=moving)), str(moving), "non-finite")
    h.truncate(moving)
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", moving=moving)), str(moving), "cannot read")
    assert not (tmp_path / "o.nii.gz").exists()


def test_masks_must_be_binary_where_they_are_thresholded(cli, h, files, tmp_path):
    image = nib.load(files["mask"])
    coded = (np.asanyarray(image.dataobj) * 255).astype(np.uint8)
    named = h.save(tmp_path / "cord_seg-manual.nii.gz", coded, image.affine)
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", "--threshold", "0.5", moving=named)), str(named), "not binary")
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", "--interp", "linear", moving=named)), str(named), "not binary")
    unnamed = h.save(tmp_path / "cord.nii.gz", coded, image.affine)
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", "--threshold", "0.5", moving=unnamed)), str(unnamed), "0/255")
    labels = h.save(tmp_path / "labels.nii.gz", (np.asanyarray(image.dataobj) * 3).astype(np.uint8), image.affine)
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", "--labels", moving=labels)), str(labels),
              "not a region label map")


def test_a_bad_field_is_named(cli, h, files, tube, tmp_path):
    field = nib.load(files["field"])
    data = np.asanyarray(field.dataobj).copy()
    data[0, 0, 0, 0, 0] = np.inf
    broken = tmp_path / "inf_xfm.nii.gz"
    nib.save(nib.Nifti1Image(data, field.affine, field.header), broken)
    h.refused(cli(*_args({**files, "field": broken}, tmp_path / "o.nii.gz")), str(broken), "non-finite")
    h.refused(cli(*_args({**files, "field": files["reference"]}, tmp_path / "o.nii.gz")), str(files["reference"]),
              "not a warping field")
    shifted = field.affine.copy()
    shifted[1, 3] += 3
    moved = tmp_path / "moved_xfm.nii.gz"
    nib.save(nib.Nifti1Image(np.asanyarray(field.dataobj), shifted, field.header), moved)
    h.refused(cli(*_args({**files, "field": moved}, tmp_path / "o.nii.gz")), str(moved), "affine differs")
    h.truncate(files["field"])
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz")), str(files["field"]), "cannot read")


@pytest.mark.parametrize("value", ["nan", "inf", "x"])
def test_a_non_finite_threshold_is_refused(cli, h, files, tmp_path, value):
    h.refused(cli(*_args(files, tmp_path / "o.nii.gz", f"--threshold={value}")), "--threshold")


def test_never_writes_over_an_input(cli, h, files, tmp_path):
    before = h.digests(*files.values())
    for target in files.values():
        h.refused(cli(*_args(files, target)), str(target), "is an input")
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    h.refused(cli(*_args(files, blocker / "o.nii.gz")), str(blocker), "is a file")
    assert h.digests(*files.values()) == before


def test_another_threshold_or_interpolation_recomputes(cli, files, tmp_path):
    out = tmp_path / "o.nii.gz"
    assert "written" in cli(*_args(files, out, "--threshold", "0.5")).out
    assert nib.load(out).get_data_dtype() == np.uint8
    assert "up to date" in cli(*_args(files, out, "--threshold", "0.5")).out
    assert "rewritten" in cli(*_args(files, out)).out  # no threshold now: a float output
    assert nib.load(out).get_data_dtype() == np.float32
    assert "rewritten" in cli(*_args(files, out, "--threshold", "0.9")).out
    assert nib.load(out).get_data_dtype() == np.uint8
