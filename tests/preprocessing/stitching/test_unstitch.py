"""Unstitching (sclesion.preprocessing.stitching.unstitch): a stitched label map back onto each chunk's grid."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.preprocessing.stitching.stitch import stitch_files
from sclesion.preprocessing.stitching.unstitch import unstitch_files, unstitch_images, unstitch_labels

SPACING = (0.5, 0.5, 4.0)
ORIGIN = np.array([-6.0, -5.0, -40.0])


def affine_of(spacing=SPACING, origin=ORIGIN) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def stitched_map() -> tuple[np.ndarray, np.ndarray]:
    """A 10x8x12 'label map' whose every voxel holds a distinct value (1..960), so a lookup can be traced."""
    return np.arange(1, 10 * 8 * 12 + 1, dtype=np.int32).reshape(10, 8, 12), affine_of()


def shifted(by_voxels, spacing=SPACING) -> np.ndarray:
    """Affine of a chunk whose voxel (0, 0, 0) lies ``by_voxels`` stitched voxels from the stitched origin."""
    return affine_of(spacing, ORIGIN + np.asarray(by_voxels, dtype=float) * SPACING)


def expected_copy(stitched: np.ndarray, offset, shape) -> np.ndarray:
    """``stitched[i + o0, j + o1, k + o2]`` where that index exists, 0 elsewhere."""
    out = np.zeros(shape, stitched.dtype)
    index = np.indices(shape) + np.asarray(offset)[:, None, None, None]
    inside = np.all((index >= 0) & (index < np.asarray(stitched.shape)[:, None, None, None]), axis=0)
    out[inside] = stitched[tuple(i[inside] for i in index)]
    return out


def test_chunk_on_the_stitched_lattice_gets_the_voxels_at_its_offset_and_zero_outside():
    stitched, affine = stitched_map()
    offset, shape = (3, -2, 5), (6, 7, 9)  # 2 rows below and 2 slices above the stitched image
    labels = unstitch_labels(stitched, affine, shifted(offset), shape)
    expected = expected_copy(stitched, offset, shape)
    assert labels.shape == shape and labels.dtype == stitched.dtype
    np.testing.assert_array_equal(labels, expected)
    assert (labels[:, :2] == 0).all() and (labels[:, :, -2:] == 0).all() and (labels[:, 2:, :-2] > 0).all()


def test_off_lattice_chunk_takes_the_nearest_stitched_voxel():
    stitched, affine = stitched_map()
    offset, shape = (3, 1, 5), (6, 7, 7)
    expected = expected_copy(stitched, offset, shape)
    nudged = unstitch_labels(stitched, affine, shifted(np.add(offset, (0.3, -0.4, 0.45))), shape)
    np.testing.assert_array_equal(nudged, expected)  # less than half a voxel: the same voxels
    coarse = unstitch_labels(stitched, affine, shifted((1, 0, 2), spacing=(1.0, 1.0, 4.0)), (4, 4, 3))
    np.testing.assert_array_equal(coarse, stitched[1:9:2, 0:8:2, 2:5])  # every second in-plane voxel


def test_flipped_and_permuted_chunk_is_read_in_its_own_voxel_order():
    stitched, affine = stitched_map()
    offset, shape = (2, 1, 3), (5, 6, 4)
    plain = expected_copy(stitched, offset, shape)
    # the same chunk stored with axis 0 reversed and axes 1, 2 swapped: same world positions
    chunk_affine = shifted(offset)
    chunk_affine[:3, 3] += chunk_affine[:3, 0] * (shape[0] - 1)
    chunk_affine[:3, 0] *= -1
    chunk_affine[:3, [1, 2]] = chunk_affine[:3, [2, 1]]
    labels = unstitch_labels(stitched, affine, chunk_affine, (shape[0], shape[2], shape[1]))
    np.testing.assert_array_equal(labels, np.transpose(plain[::-1], (0, 2, 1)))


def test_images_keep_the_chunk_grid_and_refuse_bad_input():
    stitched, affine = stitched_map()
    chunk = nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), shifted((1, 1, 1)))
    [out] = unstitch_images(nib.Nifti1Image(stitched.astype(np.float32), affine), [chunk])
    assert out.shape == chunk.shape and np.allclose(out.affine, chunk.affine)
    assert out.get_data_dtype() == np.int32  # whole-valued float labels above 255 become integers
    np.testing.assert_array_equal(np.asarray(out.dataobj), expected_copy(stitched, (1, 1, 1), chunk.shape))
    with pytest.raises(InputError, match="whole labels"):
        unstitch_images(nib.Nifti1Image(np.full((4, 4, 4), 0.5, np.float32), affine), [chunk])
    with pytest.raises(InputError, match="entirely outside"):
        far = nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), shifted((0, 0, 40)))
        unstitch_images(nib.Nifti1Image(stitched, affine), [far])


def test_files_are_named_after_the_chunk_images_and_skipped_when_up_to_date(tmp_path):
    stitched, affine = stitched_map()
    stitched_path = tmp_path / "sub-a_ses-1_acq-ax_T2w.nii.gz"
    nib.save(nib.Nifti1Image(stitched.astype(np.uint16), affine), stitched_path)
    chunks = []
    for k, offset in enumerate([(0, 0, 0), (0, 0, 6)], start=1):
        chunks.append(tmp_path / "raw" / f"sub-a_ses-1_acq-ax_chunk-{k}_T2w.nii.gz")
        chunks[-1].parent.mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(np.zeros((10, 8, 6), np.int16), shifted(offset)), chunks[-1])
    outputs = unstitch_files(stitched_path, chunks, tmp_path / "out")
    assert [p.name for p in outputs] == ["sub-a_ses-1_acq-ax_chunk-1_T2w.nii.gz", "sub-a_ses-1_acq-ax_chunk-2_T2w.nii.gz"]
    halves = [np.asarray(nib.load(p).dataobj) for p in outputs]
    np.testing.assert_array_equal(np.concatenate(halves, axis=2), stitched)
    assert nib.load(outputs[0]).get_data_dtype() == np.int32
    stamps = [os.stat(p).st_mtime_ns for p in outputs]
    assert unstitch_files(stitched_path, chunks, tmp_path / "out") == outputs
    assert [os.stat(p).st_mtime_ns for p in outputs] == stamps  # up to date: not rewritten
    with pytest.raises(InputError, match="different sessions"):
        unstitch_files(tmp_path / "sub-a_ses-2_acq-ax_T2w.nii.gz", chunks, tmp_path / "out")
    with pytest.raises(InputError, match="no chunk images"):
        unstitch_files(stitched_path, [], tmp_path / "out")


# --- the smoke cohort: the stitched reference masks unstitched give back every chunk's masks ---------------


def test_unstitched_reference_masks_are_the_chunk_masks(smoke_bids, tmp_path):
    from sclesion.data.bids import discover

    found = discover(smoke_bids, require_labels=True)
    sessions = found[found["site"] == "TUM"].groupby(["participant_id", "session"])
    overlaps = []
    for (subject, session), rows in sessions:
        rows = rows.sort_values("chunk")
        for kind in ("cord", "lesion"):
            stitched = tmp_path / f"{subject}_{session}_acq-ax_T2w_{kind}.nii.gz"
            report = stitch_files(list(rows[kind]), stitched, is_mask=True)
            overlaps += [j.overlap_mm for j in report.junctions]
            outputs = unstitch_files(stitched, list(rows["image"]), tmp_path / kind / subject / session)
            for output, reference in zip(outputs, rows[kind]):
                got, want = nib.load(output), nib.load(reference)
                assert got.shape == want.shape and np.allclose(got.affine, want.affine, atol=1e-4)
                # the chunks of a session share one voxel lattice with the stitched grid: exact, overlaps included
                np.testing.assert_array_equal(np.asarray(got.dataobj), np.asarray(want.dataobj), err_msg=str(output))
    assert len(sessions) >= 2 and max(overlaps) > 0  # overlapping chunks were exercised
