"""`sclesion straighten` against hostile input: bad voxels, bad masks, bad options, stale and mixed outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.provenance import record_path


@pytest.fixture
def inputs(tube, tmp_path):
    """A private copy of the tube's files, and their checksums."""
    folder = tmp_path / "in"
    folder.mkdir()
    return {k: Path(shutil.copy(tube[k], folder / tube[k].name)) for k in ("image", "cord", "lesion")}


def _args(inputs, out, *extra):
    return ["straighten", "-i", inputs["image"], "-s", inputs["cord"], "-o", out, *extra]


def test_a_nan_voxel_or_a_truncated_image_is_one_line_naming_the_image(cli, h, tube, inputs, tmp_path):
    data = tube["data"].copy()
    data[3, 3, 3] = np.nan
    h.save(inputs["image"], data, tube["affine"])
    h.refused(cli(*_args(inputs, tmp_path / "out")), str(inputs["image"]), "non-finite", "1 NaN")
    shutil.copy(tube["image"], inputs["image"])
    h.truncate(inputs["image"])
    h.refused(cli(*_args(inputs, tmp_path / "out")), str(inputs["image"]), "truncated or corrupt")
    inputs["image"].write_bytes(b"")
    h.refused(cli(*_args(inputs, tmp_path / "out")), str(inputs["image"]), "cannot read")
    assert not list((tmp_path / "out").glob("*.nii*"))


@pytest.mark.parametrize("values, flag", [((0, 255), "-s"), ((0, 0.6), "--mask"), ((0, 0.5), "-s")])
def test_a_mask_that_is_not_binary_is_refused_not_warped(cli, h, tube, inputs, tmp_path, values, flag):
    bad = tmp_path / "bad_seg-manual.nii.gz"
    h.save(bad, np.where(tube["cord_data"] > 0, values[1], values[0]).astype(np.float32), tube["affine"])
    args = (["straighten", "-i", inputs["image"], "-s", bad, "-o", tmp_path / "out"] if flag == "-s"
            else _args(inputs, tmp_path / "out", "--mask", bad))
    line = h.refused(cli(*args), str(bad), "not binary")
    assert "empty" not in line


def test_a_grid_mismatch_says_which_differs(cli, h, tube, inputs, tmp_path):
    shifted = tube["affine"].copy()
    shifted[0, 3] += 2.0
    moved = h.save(tmp_path / "moved_seg-manual.nii.gz", tube["cord_data"], shifted)
    h.refused(cli("straighten", "-i", inputs["image"], "-s", moved, "-o", tmp_path / "out"),
              str(moved), "affine differs", "2 mm")
    cut = h.save(tmp_path / "cut_seg-manual.nii.gz", tube["cord_data"][:, :, :-1], tube["affine"])
    h.refused(cli(*_args(inputs, tmp_path / "out", "--mask", cut)), str(cut), "shape (32, 40, 23) differs")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3", "1e9", "abc"])
def test_an_out_of_range_field_of_view_is_refused_before_any_work(cli, h, inputs, tmp_path, value):
    h.refused(cli(*_args(inputs, tmp_path / "out", f"--fov-mm={value}")), "--fov-mm", "<= 100")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["nan", "0", "1", "-0.5", "2"])
def test_an_out_of_range_threshold_is_refused(cli, h, inputs, tmp_path, value):
    h.refused(cli(*_args(inputs, tmp_path / "out", f"--threshold={value}")), "--threshold")


def test_never_writes_over_an_input_and_inputs_stay_byte_identical(cli, h, inputs, tmp_path):
    before = h.digests(inputs["image"].parent)
    h.refused(cli(*_args(inputs, inputs["image"].parent)), "is an input of this command")
    namesake = Path(shutil.copy(inputs["cord"], tmp_path / inputs["image"].name))  # a mask named like the image
    h.refused(cli(*_args(inputs, tmp_path / "o", "--mask", namesake)), "share the name", inputs["image"].name)
    assert cli(*_args(inputs, tmp_path / "ok", "--fov-mm", "10", "--mask", inputs["cord"])).status == 0
    assert h.digests(inputs["image"].parent) == before


def test_an_output_folder_under_a_file_is_one_line(cli, h, inputs, tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    h.refused(cli(*_args(inputs, blocker / "out")), str(blocker), "is a file")


def _shapes(out, stem="sub-x_T2w"):
    image = nib.load(out / f"{stem}.nii.gz").shape
    field = nib.load(out / f"{stem}_from-native_to-straight_xfm.nii.gz").shape[:3]
    mask = nib.load(out / f"{stem}_seg-manual.nii.gz").shape
    return image, field, mask


def test_another_fov_or_a_changed_input_rewrites_every_output(cli, h, tube, inputs, tmp_path):
    out = tmp_path / "out"
    first = cli(*_args(inputs, out, "--fov-mm", "10", "--mask", inputs["cord"]))
    assert first.status == 0 and "written" in first.out
    assert set(_shapes(out)) == {(21, 21, _shapes(out)[0][2])}
    again = cli(*_args(inputs, out, "--fov-mm", "10", "--mask", inputs["cord"]))
    assert "up to date" in again.out
    wider = cli(*_args(inputs, out, "--fov-mm", "12", "--mask", inputs["cord"]))
    assert "rewritten" in wider.out
    image, field, mask = _shapes(out)
    assert image == field == mask and image[:2] == (25, 25)
    data = tube["data"] * 2.0
    h.save(inputs["image"], data, tube["affine"])
    changed = cli(*_args(inputs, out, "--fov-mm", "12", "--mask", inputs["cord"]))
    assert "rewritten" in changed.out
    assert np.asanyarray(nib.load(out / "sub-x_T2w.nii.gz").dataobj).max() > 1.5 * data.max() / 2


def test_an_interrupted_rewrite_never_leaves_a_mixed_set_reported_as_done(cli, h, inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert cli(*_args(inputs, out, "--fov-mm", "10", "--mask", inputs["cord"])).status == 0
    import sclesion.preprocessing.straightening.straighten as module

    real, calls = module.save_nifti, []

    def dies_after_one(img, target):
        calls.append(target)
        if len(calls) > 1:
            raise KeyboardInterrupt  # as Ctrl-C half way through the set
        return real(img, target)

    monkeypatch.setattr(module, "save_nifti", dies_after_one)
    assert cli(*_args(inputs, out, "--fov-mm", "12", "--mask", inputs["cord"])).status == 130
    monkeypatch.setattr(module, "save_nifti", real)
    assert not any(record_path(p).exists() for p in out.glob("sub-x*"))  # the set is marked unfinished
    rerun = cli(*_args(inputs, out, "--fov-mm", "10", "--mask", inputs["cord"]))
    assert "up to date" not in rerun.out and rerun.status == 0
    image, field, mask = _shapes(out)
    assert image == field == mask and image[:2] == (21, 21)
    assert not list(out.glob(".*part*"))


def test_uncompressed_inputs_work_like_compressed_ones(cli, tube, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    image, cord = folder / "sub-y_T2w.nii", folder / "sub-y_T2w_seg-manual.nii"
    nib.save(nib.load(tube["image"]), image)
    nib.save(nib.load(tube["cord"]), cord)
    result = cli("straighten", "-i", image, "-s", cord, "-o", tmp_path / "out", "--fov-mm", "10", "--mask", cord)
    assert result.status == 0
    assert (tmp_path / "out" / "sub-y_T2w.nii").is_file()
    assert (tmp_path / "out" / "sub-y_T2w_from-straight_to-native_xfm.nii.gz").is_file()
