"""Warping fields: the ITK/ANTs displacement convention, resampling through a field, label maps back."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.preprocessing.straightening.warp import (apply_warp, field_image, field_positions,
                                                       grid_positions, interpolate, near_region, sample,
                                                       voxel_coordinates, warp_labels_back)


def _rpi(shape, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = origin
    return affine


def _constant_field(shape, affine, ras_mm) -> nib.Nifti1Image:
    displacement = np.broadcast_to(np.asarray(ras_mm, dtype=np.float32), tuple(shape) + (3,)).copy()
    return field_image(displacement, affine)


def test_grid_positions_follow_the_affine():
    affine = _rpi((4, 5, 6), spacing=(0.5, 2.0, 3.0), origin=(10.0, -4.0, 7.0))
    positions = grid_positions((4, 5, 6), affine)
    assert positions.shape == (4, 5, 6, 3)
    # voxel (3, 2, 1): x = 10 - 3 * 0.5, y = -4 + 2 * 2, z = 7 + 1 * 3
    np.testing.assert_allclose(positions[3, 2, 1], [8.5, 0.0, 10.0])


def test_field_is_stored_itk_style_lps_5d():
    affine = _rpi((3, 3, 3))
    image = field_image(np.tile(np.float32([2.0, -1.0, 0.5]), (3, 3, 3, 1)), affine)
    assert image.shape == (3, 3, 3, 1, 3)
    assert image.get_data_dtype() == np.float32
    assert image.header.get_intent()[0] == "vector"
    # 2 mm to the right (RAS +x) is -2 in LPS; 1 mm posterior (RAS -y) is +1 in LPS; superior keeps its sign.
    np.testing.assert_allclose(np.asarray(image.dataobj)[1, 1, 1, 0], [-2.0, 1.0, 0.5])


def test_field_positions_inverts_field_image_and_accepts_4d():
    affine = _rpi((3, 4, 5), spacing=(0.5, 0.5, 2.0), origin=(1.0, 2.0, 3.0))
    rng = np.random.default_rng(0)
    displacement = rng.normal(size=(3, 4, 5, 3)).astype(np.float32)
    expected = grid_positions((3, 4, 5), affine) + displacement
    image = field_image(displacement.copy(), affine)
    np.testing.assert_allclose(field_positions(image), expected, atol=1e-5)
    four_d = nib.Nifti1Image(np.asarray(image.dataobj)[:, :, :, 0, :], affine)
    np.testing.assert_allclose(field_positions(four_d), expected, atol=1e-5)


def test_field_positions_rejects_a_scalar_image():
    with pytest.raises(InputError, match="not a warping field"):
        field_positions(nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), np.eye(4)))


@pytest.mark.parametrize("interp", ["nearest", "linear", "spline"])
def test_zero_field_is_the_identity(interp):
    affine = _rpi((6, 7, 8), spacing=(0.5, 0.5, 3.0))
    data = np.random.default_rng(1).random((6, 7, 8)).astype(np.float32)
    out = apply_warp(nib.Nifti1Image(data, affine), _constant_field((6, 7, 8), affine, [0, 0, 0]),
                     nib.Nifti1Image(np.zeros((6, 7, 8), np.float32), affine), interp=interp)
    np.testing.assert_allclose(np.asarray(out.dataobj), data, atol=1e-5)


def test_translation_field_shifts_by_whole_voxels():
    # RPI: voxel axis 0 runs right to left, so world x = -i. Reading 2 mm to the left (RAS x - 2) of each
    # reference voxel reads moving voxel i + 2.
    affine = _rpi((8, 3, 3))
    data = np.zeros((8, 3, 3), np.float32)
    data[5, 1, 1] = 1.0
    out = apply_warp(nib.Nifti1Image(data, affine), _constant_field((8, 3, 3), affine, [-2.0, 0, 0]),
                     nib.Nifti1Image(data, affine), interp="linear")
    result = np.asarray(out.dataobj)
    assert result[3, 1, 1] == pytest.approx(1.0)
    assert result.sum() == pytest.approx(1.0)


def test_half_voxel_edge_rule():
    # Within half a voxel outside the grid the edge value holds; beyond that the value is 0.
    affine = _rpi((4, 1, 1))
    volume = np.full((4, 1, 1), 7.0, np.float32)
    x = np.array([0.4, -0.4, 0.6, -3.4, -3.6])  # voxel i sits at x = -i: i = -0.4, 0.4, -0.6, 3.4, 3.6
    positions = np.column_stack([x, np.zeros(5), np.zeros(5)])
    np.testing.assert_allclose(sample(volume, affine, positions, order=1), [7, 7, 0, 7, 0])


def test_threshold_gives_a_binary_uint8_mask():
    affine = _rpi((4, 4, 4))
    data = np.zeros((4, 4, 4), np.uint8)
    data[1:3, 1:3, 1:3] = 1
    # Shift by half a voxel: linear values are 0.5 on the edge planes, 1 inside; > 0.5 keeps only full voxels.
    out = apply_warp(nib.Nifti1Image(data, affine), _constant_field((4, 4, 4), affine, [0, 0, 0.5]),
                     nib.Nifti1Image(data, affine), interp="linear", threshold=0.5)
    result = np.asarray(out.dataobj)
    assert result.dtype == np.uint8
    assert set(np.unique(result)) == {0, 1}
    assert result.sum() == 4  # z: voxel 1 reads 1.5 (=1), voxel 2 reads 2.5 (=0.5, dropped)


def test_nearest_keeps_the_moving_dtype():
    affine = _rpi((3, 3, 3))
    labels = np.arange(27, dtype=np.int16).reshape(3, 3, 3)
    out = apply_warp(nib.Nifti1Image(labels, affine), _constant_field((3, 3, 3), affine, [0, 0, 0]),
                     nib.Nifti1Image(labels, affine), interp="nearest")
    assert out.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(out.dataobj), labels)


def test_apply_warp_errors():
    affine = _rpi((3, 3, 3))
    img = nib.Nifti1Image(np.zeros((3, 3, 3), np.float32), affine)
    warp = _constant_field((3, 3, 3), affine, [0, 0, 0])
    with pytest.raises(InputError, match="not defined on the reference grid"):
        apply_warp(img, warp, nib.Nifti1Image(np.zeros((4, 3, 3), np.float32), _rpi((4, 3, 3))))
    with pytest.raises(InputError, match="3D"):
        apply_warp(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), affine), warp, img)
    with pytest.raises(InputError, match="unknown interpolation"):
        apply_warp(img, warp, img, interp="cubic")


def test_warp_labels_back_puts_lesion_over_cord():
    affine = _rpi((9, 9, 5))
    labels = np.zeros((9, 9, 5), np.uint8)
    labels[2:7, 2:7, 1:4] = 1
    labels[4, 4, 2] = 2
    labels[3:6, 3:6, 2] = 2
    out = warp_labels_back(nib.Nifti1Image(labels, affine), _constant_field((9, 9, 5), affine, [0, 0, 0]),
                           nib.Nifti1Image(np.zeros((9, 9, 5), np.float32), affine))
    result = np.asarray(out.dataobj)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, labels)


def test_warp_labels_back_checks_the_native_grid():
    affine = _rpi((3, 3, 3))
    labels = nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), affine)
    with pytest.raises(InputError, match="not defined on the reference grid"):
        warp_labels_back(labels, _constant_field((3, 3, 3), affine, [0, 0, 0]),
                         nib.Nifti1Image(np.zeros((5, 3, 3), np.float32), _rpi((5, 3, 3))))


def _regions(shape, rng):
    """Binary regions that challenge the spline's reach: one voxel, a thin line, a slab on the border, blobs."""
    one = np.zeros(shape, bool)
    one[shape[0] // 2, shape[1] // 2, shape[2] // 2] = True
    line = np.zeros(shape, bool)
    line[5, 7, :] = True
    slab = np.zeros(shape, bool)
    slab[:, :3, :] = True
    blobs = rng.random(shape) > 0.97
    return [one, line, slab, blobs, ~slab]


def test_the_cubic_spline_of_a_region_stays_below_half_beyond_its_reach():
    rng = np.random.default_rng(0)
    shape = (24, 20, 16)
    coords = rng.uniform(0, 1, (3, 20000)).astype(np.float32) * (np.array(shape, np.float32)[:, None] - 1)
    for region in _regions(shape, rng):
        values = interpolate(region, coords, 3)
        near = near_region(region, coords)
        assert np.all(np.abs(values[~near]) <= 0.12)
        assert not np.any(values[~near] > 0.5)
        np.testing.assert_array_equal(interpolate(region, coords, 3, only=near), values[near])


def test_warp_labels_back_is_the_full_interpolation_thresholded():
    rng = np.random.default_rng(1)
    shape = (24, 20, 16)
    affine = _rpi(shape, spacing=(0.9, 0.9, 3.5))
    displacement = rng.normal(0, 0.6, shape + (3,)).astype(np.float32) + np.float32(0.3)
    field = field_image(displacement, affine)
    native = nib.Nifti1Image(np.zeros(shape, np.float32), affine)
    regions = _regions(shape, rng)
    for cord, lesion in zip(regions, regions[1:] + regions[:1]):
        labels = cord.astype(np.uint8)
        labels[lesion & cord] = 2
        out = np.asarray(warp_labels_back(nib.Nifti1Image(labels, affine), field, native).dataobj)
        inside, coords = voxel_coordinates(field_positions(field), affine, shape)
        expected = np.zeros(shape, np.uint8)
        for value, region in ((1, labels >= 1), (2, labels == 2)):
            expected.reshape(-1)[inside[interpolate(region, coords, 3) > 0.5]] = value
        np.testing.assert_array_equal(out, expected)


def test_coordinates_are_computed_once_per_field_and_grid_and_warps_stay_the_same(monkeypatch):
    from sclesion.preprocessing.straightening import warp

    rng = np.random.default_rng(3)
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    moving = nib.Nifti1Image(rng.random((12, 11, 6)).astype(np.float32), affine)
    field = warp.field_image(rng.normal(0, 0.4, (12, 11, 6, 3)).astype(np.float32), affine)
    computed = []
    original = warp.voxel_coordinates
    monkeypatch.setattr(warp, "voxel_coordinates", lambda *args: computed.append(1) or original(*args))
    first = np.asanyarray(warp.apply_warp(moving, field, moving, interp="linear").dataobj)
    second = np.asanyarray(warp.apply_warp(moving, field, moving, interp="linear").dataobj)
    assert len(computed) == 1
    np.testing.assert_array_equal(first, second)
    positions = warp.field_positions(field)  # the uncached way: sample at the field's positions
    np.testing.assert_array_equal(first, warp.sample(moving.get_fdata(dtype=np.float32), affine, positions, 1))
    other = nib.Nifti1Image(moving.get_fdata(dtype=np.float32)[:, :, :5], affine)  # another moving grid
    computed.clear()
    warp.apply_warp(other, field, moving, interp="nearest")
    warp.apply_warp(moving, field, moving, interp="nearest")
    assert len(computed) == 1
