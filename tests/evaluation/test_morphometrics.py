"""Lesion morphometrics on phantoms with analytic answers: cylinders through a straight and a tilted cord.

The phantom: voxels of 0.5 x 0.5 x 1 mm (RPI), a cord of radius 10 mm around a line through C0 tilted by the
angle ``cord_tilt`` from the S-I axis towards R-L, and a lesion that is a finite cylinder (radius R, length L,
flat ends perpendicular to its axis) around a line through C0 tilted by ``lesion_tilt``. With the definitions
of ``sct_analyze_lesion`` (cord angle ``a``, lesion tilt ``b``):

* an axial section of the lesion is an ellipse of area ``pi R^2 / cos b``, so the maximum equivalent diameter
  is ``2 sqrt(pi R^2 / cos b * cos a / pi) = 2 R sqrt(cos a / cos b)`` (``2 R`` when the lesion follows the cord);
* the lesion spans ``E = L cos b + 2 R sin b`` mm in S-I: its tilted flat ends add ``2 R sin b`` (the rim of
  each end reaches ``R sin b`` beyond the end's centre). The angle-corrected length is ``E / cos a``, so a
  lesion that follows a tilted cord measures ``L + 2 R tan a``, not ``L``: the end effect of the definition,
  which counts whole axial slices, on a lesion whose ends are not axial.
"""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.core.errors import InputError
from sclesion.core.nifti import reorient
from sclesion.evaluation.lesions import label_lesions, structure
from sclesion.evaluation.morphometrics import (
    LESION_COLUMNS, analyze_files, chunk_from_name, image_summary, lesion_table,
)

ZOOMS = np.array([0.5, 0.5, 1.0])
SHAPE = (120, 80, 90)
C0 = np.array([30.1, 20.1, 45.5])  # mm, in the voxel frame (index x zoom); flat ends between slices
ORIGIN = np.array([-12.0, 40.0, -300.0])  # scanner position of voxel (0, 0, 0)
CORD_R, R, L = 10.0, 2.5, 20.0
TILT = math.radians(25)


def _axis(tilt: float) -> np.ndarray:
    return np.array([math.sin(tilt), 0.0, math.cos(tilt)])


def _phantom(cord_tilt: float, lesion_tilt: float):
    grid = np.stack(np.meshgrid(*[np.arange(n) * z for n, z in zip(SHAPE, ZOOMS)], indexing="ij"), axis=-1) - C0
    along_cord = grid @ _axis(cord_tilt)
    cord = np.linalg.norm(grid - along_cord[..., None] * _axis(cord_tilt), axis=-1) <= CORD_R
    along = grid @ _axis(lesion_tilt)
    radial = np.linalg.norm(grid - along[..., None] * _axis(lesion_tilt), axis=-1)
    lesion = (np.abs(along) <= L / 2) & (radial <= R)
    affine = np.diag([-ZOOMS[0], ZOOMS[1], ZOOMS[2], 1.0])
    affine[:3, 3] = ORIGIN
    return lesion.astype(np.uint8), (cord | lesion).astype(np.uint8), affine


CASES = {  # (cord tilt, lesion tilt)
    "straight lesion, straight cord": (0.0, 0.0),
    "tilted lesion, tilted cord": (TILT, TILT),
    "straight lesion, tilted cord": (TILT, 0.0),
    "tilted lesion, straight cord": (0.0, TILT),
}


@pytest.mark.parametrize("case", CASES)
def test_phantom_measures_match_their_analytic_values(case):
    cord_tilt, lesion_tilt = CASES[case]
    lesion, cord, affine = _phantom(cord_tilt, lesion_tilt)
    table = lesion_table(lesion, cord, affine, connectivity=6)
    assert list(table.columns) == LESION_COLUMNS and len(table) == 1
    row = table.iloc[0]
    voxel_mm3 = float(np.prod(ZOOMS))
    assert row["volume_mm3"] == pytest.approx(lesion.sum() * voxel_mm3) and row["n_voxels"] == lesion.sum()
    assert row["volume_mm3"] == pytest.approx(math.pi * R**2 * L, rel=0.05)  # the cylinder's volume
    diameter = 2 * R * math.sqrt(math.cos(cord_tilt) / math.cos(lesion_tilt))
    assert abs(row["max_equivalent_diameter_mm"] - diameter) <= ZOOMS[0]  # one in-plane voxel
    extent = L * math.cos(lesion_tilt) + 2 * R * math.sin(lesion_tilt)
    slice_mm = ZOOMS[2] / math.cos(cord_tilt)
    assert abs(row["length_mm"] - extent / math.cos(cord_tilt)) <= slice_mm  # one slice
    expected_centre = ORIGIN + np.array([-1, 1, 1]) * C0
    np.testing.assert_allclose(row[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].astype(float),
                               expected_centre, atol=ZOOMS.max() / 2)


def test_a_lesion_following_a_tilted_cord_measures_its_length_plus_the_end_effect():
    lesion, cord, affine = _phantom(TILT, TILT)
    length = lesion_table(lesion, cord, affine, connectivity=6).iloc[0]["length_mm"]
    end_effect = 2 * R * math.tan(TILT)  # 2.3 mm: more than two slices, so the test below can fail without it
    assert abs(length - (L + end_effect)) <= ZOOMS[2] / math.cos(TILT)
    assert abs(length - L) > ZOOMS[2] / math.cos(TILT)


def test_damage_ratio_is_the_lesion_share_of_the_cord_section():
    lesion, cord, affine = _phantom(0.0, 0.0)
    ratio = lesion_table(lesion, cord, affine, connectivity=6).iloc[0]["max_axial_damage_ratio"]
    assert ratio == pytest.approx((R / CORD_R) ** 2, abs=0.01)
    full = lesion_table(lesion, lesion, affine, connectivity=6).iloc[0]["max_axial_damage_ratio"]
    assert full == pytest.approx(1.0)
    none = lesion_table(lesion, np.zeros_like(lesion), affine, connectivity=6).iloc[0]
    assert np.isnan(none["max_axial_damage_ratio"])  # a lesion outside any cord: no ratio, and no crash


def test_measures_do_not_depend_on_the_stored_orientation():
    lesion, cord, affine = _phantom(TILT, TILT)
    flipped_lesion, flipped_affine = reorient(lesion, affine, ("P", "I", "R"))
    flipped_cord, _ = reorient(cord, affine, ("P", "I", "R"))
    pd.testing.assert_frame_equal(lesion_table(flipped_lesion, flipped_cord, flipped_affine, connectivity=6),
                                  lesion_table(lesion, cord, affine, connectivity=6), atol=1e-6)


def test_connectivity_is_explicit_and_decides_what_one_lesion_is():
    mask = np.zeros((5, 5, 5), np.uint8)
    mask[1, 1, 1] = mask[2, 2, 1] = 1  # touching along an edge only
    assert label_lesions(mask, 6)[1] == 2 and label_lesions(mask, 18)[1] == 1
    mask[3, 3, 2] = 1  # touching the second at a corner only
    assert label_lesions(mask, 18)[1] == 2 and label_lesions(mask, 26)[1] == 1
    assert structure(6).sum() == 7 and structure(18).sum() == 19
    with pytest.raises(InputError, match="unknown 3D connectivity 8"):
        label_lesions(mask, 8)
    table = lesion_table(mask, mask, np.eye(4), connectivity=6, chunk=2)
    assert table["lesion_id"].tolist() == [1, 2, 3] and set(table["region"]) == {"thoracic"}
    summary = image_summary(table, mask, np.eye(4), chunk=2)
    assert summary["n_lesions"] == 3 and summary["total_lesion_volume_mm3"] == 3.0


def test_files_are_checked_and_the_chunk_read_from_the_name(tmp_path):
    lesion, cord, affine = _phantom(0.0, 0.0)
    lesion_path = tmp_path / "sub-a_acq-ax_chunk-3_T2w_lesion_seg.nii.gz"
    cord_path = tmp_path / "sub-a_acq-ax_chunk-3_T2w_sc_seg.nii.gz"
    nib.save(nib.Nifti1Image(lesion, affine), lesion_path)
    nib.save(nib.Nifti1Image(cord, affine), cord_path)
    table = analyze_files(lesion_path, cord_path, connectivity=18)
    assert table.iloc[0]["chunk"] == 3 and table.iloc[0]["region"] == "lumbar"
    assert chunk_from_name("my scan.nii.gz") is None
    shifted = affine.copy()
    shifted[0, 3] += 1
    nib.save(nib.Nifti1Image(cord, shifted), cord_path)
    with pytest.raises(InputError, match="affine differs"):
        analyze_files(lesion_path, cord_path, connectivity=6)
    nib.save(nib.Nifti1Image(cord.astype(np.float32) * 0.5, affine), cord_path)
    with pytest.raises(InputError, match="not binary"):
        analyze_files(lesion_path, cord_path, connectivity=6)
