"""Figure panels (sclesion.figures.slices): placement in world mm, slice choice, ramp profiles, grid checks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sclesion.core.errors import InputError  # noqa: E402
from sclesion.preprocessing.stitching.stitch import stitch_images  # noqa: E402
from sclesion.figures.slices import axial_lesion_panel, ramp_weights_plot, sagittal_mip_panel  # noqa: E402


def rpi_image(data: np.ndarray, origin=(10.0, -20.0, -100.0), spacing=(1.0, 2.0, 4.0)) -> nib.Nifti1Image:
    """An RPI image (axis 0 right->left: negative x step)."""
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = origin
    return nib.Nifti1Image(data, affine)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_sagittal_panel_places_the_slice_in_world_mm_with_anterior_left():
    data = np.random.default_rng(0).uniform(1, 2, size=(5, 6, 10)).astype(np.float32)
    lesion = np.zeros(data.shape, np.uint8)
    lesion[0, 2, 3] = 1  # far off the mid-sagittal plane: the MIP must still show it
    ax = sagittal_mip_panel(rpi_image(data), rpi_image(lesion))
    grey, overlay = ax.images
    # A-P: y from -20 - 1 to -20 + 5*2 + 1 (voxel edges); S-I: z from -100 - 2 to -100 + 9*4 + 2
    np.testing.assert_allclose(grey.get_extent(), (-21.0, -9.0, -102.0, -62.0))
    np.testing.assert_array_equal(grey.get_array(), data[2].T)  # middle R-L slice, S-I rows
    assert overlay.get_array()[3, 2] and overlay.get_array().sum() == 1
    left, right = ax.get_xlim()
    assert left > right  # anterior (larger y) on the left


def test_sagittal_panel_shares_axes_and_a_world_plane():
    data = np.arange(5 * 6 * 4, dtype=np.float32).reshape(5, 6, 4) + 1
    ax = sagittal_mip_panel(rpi_image(data), x_mm=8.0)  # x = 10 - i  ->  i = 2
    sagittal_mip_panel(rpi_image(data, origin=(9.0, -20.0, -80.0)), ax=ax, x_mm=8.0, z_shift_mm=10.0)  # i = 1
    first, second = ax.images
    np.testing.assert_array_equal(first.get_array(), data[2].T)
    np.testing.assert_array_equal(second.get_array(), data[1].T)
    assert second.get_extent()[2] == pytest.approx(-80.0 - 2.0 + 10.0)
    left, right = ax.get_xlim()
    assert left > right  # still anterior left after a second image


def test_axial_panel_picks_the_slice_with_most_lesion():
    data = np.ones((8, 8, 6), np.float32)
    lesion = np.zeros(data.shape, np.uint8)
    lesion[3:5, 3:5, 4] = 1
    lesion[3, 3, 1] = 1
    cord = np.zeros(data.shape, np.uint8)
    cord[2:6, 2:6, :] = 1
    _, k = axial_lesion_panel(rpi_image(data), rpi_image(lesion), rpi_image(cord))
    assert k == 4
    _, k = axial_lesion_panel(rpi_image(data), None, rpi_image(cord), k=2)
    assert k == 2


def test_mask_on_another_grid_is_refused():
    data = np.ones((4, 4, 4), np.float32)
    with pytest.raises(InputError, match="differs"):
        sagittal_mip_panel(rpi_image(data), rpi_image(np.zeros((4, 4, 5), np.uint8)))


def test_ramp_plot_draws_the_weights_of_each_chunk():
    affine = np.diag([1.0, 1.0, 4.0, 1.0])
    a = nib.Nifti1Image(np.ones((4, 4, 10), np.float32), affine)
    b_affine = affine.copy()
    b_affine[2, 3] = 28.0  # overlap of 3 slices
    b = nib.Nifti1Image(np.ones((4, 4, 10), np.float32), b_affine)
    ax = ramp_weights_plot(stitch_images([a, b], is_mask=False), labels=["upper", "lower"])
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    np.testing.assert_allclose(lines["upper"].get_ydata(), [1.0, 0.75, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(lines["lower"].get_xdata(), [24.0, 28.0, 32.0, 36.0, 40.0])  # world z (mm)
    far = b_affine.copy()
    far[2, 3] = 80.0
    with pytest.raises(InputError, match="no overlap"):
        ramp_weights_plot(stitch_images([a, nib.Nifti1Image(np.ones((4, 4, 10), np.float32), far)], is_mask=False))
