"""sclesion.core.nifti: one clear error per bad input, exact reorientation round trips."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.core.nifti import (
    RPI,
    axcodes,
    check_binary,
    from_rpi,
    load_image,
    load_mask,
    reorient,
    shape_rpi,
    to_rpi,
    validate_pair,
    voxel_sizes_rpi,
)

AFFINE = np.diag([0.5, 0.5, 4.0, 1.0])


def save(path, data, affine=AFFINE):
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


@pytest.fixture
def pair(tmp_path):
    """A valid 6x5x4 float image and its binary uint8 mask."""
    rng = np.random.default_rng(0)
    image = save(tmp_path / "sub-a_T2w.nii.gz", rng.random((6, 5, 4)).astype(np.float32))
    mask = np.zeros((6, 5, 4), np.uint8)
    mask[2:4, 1:3, 1:3] = 1
    return image, save(tmp_path / "sub-a_T2w_lesion-manual.nii.gz", mask)


def test_valid_pair_passes_and_mask_loads_as_uint8(pair):
    image, mask = pair
    validate_pair(image, mask)
    data, affine = load_mask(mask)
    assert data.dtype == np.uint8 and int(data.sum()) == 8
    np.testing.assert_array_equal(affine, AFFINE)


def test_float_mask_holding_only_0_and_1_is_accepted(tmp_path, pair):
    image, _ = pair
    mask = np.zeros((6, 5, 4), np.float64)
    mask[0, 0, 0] = 1.0
    validate_pair(image, save(tmp_path / "m.nii.gz", mask))


def test_mask_shape_mismatch_names_mask_and_both_shapes(tmp_path, pair):
    image, _ = pair
    mask = save(tmp_path / "sub-a_T2w_seg-manual.nii.gz", np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(InputError) as err:
        validate_pair(image, mask)
    assert str(err.value) == f"{mask}: shape (6, 5, 3) differs from the image's shape (6, 5, 4)"


def test_affine_mismatch_beyond_tolerance_is_reported(tmp_path, pair):
    image, _ = pair
    shifted = AFFINE.copy()
    shifted[2, 3] = 2.0  # 2 mm shift along z
    mask = save(tmp_path / "m.nii.gz", np.zeros((6, 5, 4), np.uint8), shifted)
    with pytest.raises(InputError, match=r"m\.nii\.gz: affine differs from the image's by up to 2 mm"):
        validate_pair(image, mask)


def test_affine_within_tolerance_passes(tmp_path, pair):
    image, _ = pair
    close = AFFINE.copy()
    close[0, 3] = 5e-4  # 0.0005 mm < 0.001 mm
    validate_pair(image, save(tmp_path / "m.nii.gz", np.zeros((6, 5, 4), np.uint8), close))


def test_non_binary_mask_lists_its_values(tmp_path, pair):
    image, _ = pair
    data = np.zeros((6, 5, 4), np.float32)
    data[0, 0, 0], data[1, 1, 1] = 0.5, 1.0
    mask = save(tmp_path / "sub-x_T2w_lesion-manual.nii.gz", data)
    with pytest.raises(InputError) as err:
        validate_pair(image, mask)
    assert str(err.value) == f"{mask}: mask is not binary (values 0, 0.5, 1)"


def test_integer_label_map_is_not_binary(tmp_path):
    data = np.zeros((3, 3, 3), np.uint8)
    data[0, 0, 0] = 2
    with pytest.raises(InputError, match=r"mask is not binary \(values 0, 2\)"):
        check_binary(data, tmp_path / "m.nii.gz")


def test_4d_image_is_rejected(tmp_path):
    path = save(tmp_path / "four.nii.gz", np.zeros((6, 5, 4, 2), np.float32))
    with pytest.raises(InputError) as err:
        load_image(path)
    assert str(err.value) == f"{path}: image is 4D with shape (6, 5, 4, 2); expected a 3D volume"


def test_4d_single_volume_is_squeezed(tmp_path):
    path = save(tmp_path / "one.nii.gz", np.ones((6, 5, 4, 1), np.float32))
    data, _ = load_image(path)
    assert data.shape == (6, 5, 4)


def test_nan_in_image_names_the_image(tmp_path):
    data = np.zeros((6, 5, 4), np.float32)
    data[1, 2, 3] = np.nan
    data[0, 0, 0] = np.inf
    image = save(tmp_path / "nan.nii.gz", data)
    mask = save(tmp_path / "m.nii.gz", np.zeros((6, 5, 4), np.uint8))
    with pytest.raises(InputError) as err:
        validate_pair(image, mask)
    assert str(err.value) == f"{image}: 2 non-finite voxel values (1 NaN, 1 infinite)"


def test_nan_in_float_mask_is_reported_as_non_finite(tmp_path, pair):
    image, _ = pair
    data = np.zeros((6, 5, 4), np.float32)
    data[0, 0, 0] = np.nan
    mask = save(tmp_path / "m.nii.gz", data)
    with pytest.raises(InputError, match=r"m\.nii\.gz: 1 non-finite voxel values \(1 NaN, 0 infinite\)"):
        validate_pair(image, mask)


def test_truncated_gzip_is_reported_as_corrupt(tmp_path):
    rng = np.random.default_rng(1)
    good = save(tmp_path / "good.nii.gz", rng.random((20, 20, 10)).astype(np.float32))
    raw = good.read_bytes()
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])  # header intact, voxel data cut
    with pytest.raises(InputError) as err:
        load_image(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: cannot read voxel data; truncated or corrupt file?")


def test_truncated_header_is_reported(tmp_path):
    bad = tmp_path / "tiny.nii.gz"
    bad.write_bytes(gzip.compress(b"\x00" * 100))  # a valid gzip holding less than a NIfTI header
    with pytest.raises(InputError, match=r"tiny\.nii\.gz: cannot read as NIfTI"):
        load_image(bad)


def test_file_that_is_not_gzip_is_reported(tmp_path):
    bad = tmp_path / "text.nii.gz"
    bad.write_text("not an image")
    with pytest.raises(InputError, match=r"text\.nii\.gz: cannot read as NIfTI .*not a gzip file"):
        load_image(bad)


def test_missing_and_folder_paths_are_unreadable(tmp_path):
    with pytest.raises(InputError, match=r"absent\.nii\.gz: file not found"):
        load_image(tmp_path / "absent.nii.gz")
    (tmp_path / "folder.nii.gz").mkdir()
    with pytest.raises(InputError, match=r"folder\.nii\.gz: not a file"):
        load_image(tmp_path / "folder.nii.gz")


def test_permission_denied_is_reported(tmp_path, pair, monkeypatch):
    # Tests may run as root (who reads anything), so simulate the OS refusing to open the file.
    image, _ = pair

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(nib, "load", refuse)
    with pytest.raises(InputError, match=r"sub-a_T2w\.nii\.gz: cannot read as NIfTI \(PermissionError"):
        load_image(image)


# --- orientation ---------------------------------------------------------------------------------------


def oblique_las_affine():
    """An affine with axes (P, S, R) order, i.e. not RPI, with a small rotation and an offset."""
    theta = np.deg2rad(5)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    perm = np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], float)  # axis0 -> -y (P), axis1 -> +z (S), axis2 -> +x (R)
    affine = np.eye(4)
    affine[:3, :3] = rot @ perm @ np.diag([0.7, 4.0, 0.6])
    affine[:3, 3] = [10.0, -20.0, 30.0]
    return affine


def test_reorient_to_rpi_and_back_is_exact():
    rng = np.random.default_rng(2)
    data = rng.random((7, 5, 9)).astype(np.float32)
    affine = oblique_las_affine()
    assert axcodes(affine) == ("P", "S", "R")
    rpi, rpi_affine = to_rpi(data, affine)
    assert axcodes(rpi_affine) == RPI
    assert rpi.shape == (9, 7, 5)
    back, back_affine = from_rpi(rpi, rpi_affine, affine)
    np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(back_affine, affine, atol=1e-12)


def test_reorient_keeps_world_position_of_every_voxel():
    data = np.arange(7 * 5 * 9, dtype=np.float32).reshape(7, 5, 9)
    affine = oblique_las_affine()
    rpi, rpi_affine = to_rpi(data, affine)
    # the voxel holding value v sits at the same world point before and after
    for value in (0, 17, 314):
        old = np.argwhere(data == value)[0]
        new = np.argwhere(rpi == value)[0]
        np.testing.assert_allclose(affine @ [*old, 1], rpi_affine @ [*new, 1], atol=1e-9)


def test_reorient_accepts_string_codes_and_identity():
    data = np.zeros((2, 3, 4))
    same, same_affine = reorient(data, AFFINE, "RAS")
    assert same.shape == (2, 3, 4)
    np.testing.assert_array_equal(same_affine, AFFINE)
    flipped, flipped_affine = reorient(data, AFFINE, "LAS")
    assert axcodes(flipped_affine) == ("L", "A", "S")
    assert flipped_affine[0, 0] == -0.5 and flipped_affine[0, 3] == 0.5  # index 0 is now the old index 1


def test_voxel_sizes_and_shape_in_rpi_order():
    affine = oblique_las_affine()
    np.testing.assert_allclose(voxel_sizes_rpi(affine), [0.6, 0.7, 4.0])
    assert shape_rpi((7, 5, 9), affine) == (9, 7, 5)
