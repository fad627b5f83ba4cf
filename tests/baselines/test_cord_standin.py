"""The cord stand-in: a classical cord segmentation inside the bright CSF ring, consistent along S-I."""

from __future__ import annotations

import os
import shutil

import nibabel as nib
import numpy as np
import pytest

from sclesion.baselines import cord_standin
from sclesion.core.errors import InputError
from sclesion.core.nifti import load_mask, reorient
from sclesion.evaluation.evaluate import find_predictions
from sclesion.evaluation.metrics import dice


def test_segments_the_cord_inside_the_csf_ring(phantom):
    image, cord, _, affine = phantom(seed=1)
    mask = cord_standin.segment_cord(image, affine)
    assert mask.dtype == np.uint8 and mask.shape == image.shape
    assert dice(mask, cord) > 0.9


def test_a_lesion_touching_the_csf_stays_inside_the_cord(phantom):
    image, cord, _, affine = phantom(seed=2)
    image = image.copy()
    k = image.shape[2] // 2
    edge = np.argwhere(cord[:, :, k])[0]  # a voxel on the cord's border next to the CSF
    lesion = np.zeros_like(cord)
    lesion[edge[0]:edge[0] + 3, edge[1] - 1:edge[1] + 2, k] = True
    lesion &= cord
    image[lesion] = 0.85
    mask = cord_standin.segment_cord(image, affine)
    assert mask[lesion].mean() > 0.8
    assert dice(mask[:, :, k], cord[:, :, k]) > 0.85


def test_the_result_does_not_depend_on_the_axis_order(phantom):
    image, cord, _, affine = phantom(seed=3)
    flipped, flipped_affine = reorient(image, affine, ("P", "R", "I"))
    mask = cord_standin.segment_cord(flipped, flipped_affine)
    back, _ = reorient(mask, flipped_affine, ("L", "A", "S"))
    assert np.array_equal(back, cord_standin.segment_cord(image, affine))


def test_slices_that_lose_the_ring_are_interpolated_from_their_neighbours(phantom):
    image, cord, _, affine = phantom(seed=4)
    image = image.copy()
    k = image.shape[2] // 2
    image[:, :, k] = 1.0  # a slice all bright (e.g. a flow artefact): no ring, no cord to see
    image[3:9, 3:9, k + 2] = 0.5  # a far dark hole inside a bright frame, a decoy on another slice
    image[2:10, 2, k + 2] = image[2:10, 9, k + 2] = image[2, 2:10, k + 2] = image[9, 2:10, k + 2] = 1.0
    mask = cord_standin.segment_cord(image, affine)
    areas = mask.sum(axis=(0, 1))
    assert areas[k] > 0.7 * areas[k - 1] and dice(mask[:, :, k], cord[:, :, k]) > 0.8
    assert not mask[3:9, 3:9, k + 2].any()
    assert dice(mask, cord) > 0.9


def test_no_cord_where_the_canal_holds_only_csf(phantom):
    image, cord, _, affine = phantom(seed=5)
    image = image.copy()
    low = image.shape[2] // 4
    below = np.zeros_like(cord)
    below[:, :, :low] = cord[:, :, :low]
    image[below] = 1.0  # below the conus: CSF only
    mask = cord_standin.segment_cord(image, affine)
    assert not mask[:, :, :low - 1].any()
    assert dice(mask[:, :, low + 1:], cord[:, :, low + 1:]) > 0.9


def test_an_image_without_a_csf_ring_gives_an_empty_mask(phantom):
    _, _, _, affine = phantom()
    for data in (np.zeros((40, 40, 20)), np.random.default_rng(0).normal(1.0, 0.1, (40, 40, 20))):
        assert not cord_standin.segment_cord(data, affine).any()


@pytest.mark.parametrize("data, problem", [(np.zeros((4, 4)), "3D"), (np.full((8, 8, 4), np.nan), "finite")])
def test_bad_arrays_are_one_line_input_errors(data, problem):
    with pytest.raises(InputError, match=problem) as err:
        cord_standin.segment_cord(data, np.eye(4))
    assert "\n" not in str(err.value)


def test_a_file_with_nan_names_the_file(phantom, tmp_path):
    image, _, _, affine = phantom()
    image = image.copy()
    image[0, 0, 0] = np.nan
    path = tmp_path / "sub-x_T2w.nii.gz"
    nib.save(nib.Nifti1Image(image, affine), path)
    with pytest.raises(InputError, match="NaN") as err:
        cord_standin.run([path], tmp_path / "out", progress=False)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not list((tmp_path / "out").glob("*.nii.gz"))


def test_run_writes_masks_on_the_input_grid_that_the_evaluation_pairs(case_writer, tmp_path):
    cases = [case_writer(f"p{i}", seed=i) for i in range(2)]
    references = [load_mask(c["cord"])[0] for c in cases]
    shutil.rmtree(tmp_path / "bids" / "derivatives")  # the method reads no reference mask
    outputs = cord_standin.run([c["image"] for c in cases], tmp_path / "out", jobs=2, progress=False)
    for case, reference, output in zip(cases, references, outputs):
        assert output.name == case["image"].name.replace("_T2w.nii.gz", "_T2w_seg-cordstandin.nii.gz")
        img, ref = nib.load(output), nib.load(case["image"])
        assert img.shape == ref.shape and np.allclose(img.affine, ref.affine)
        assert img.get_data_dtype() == np.uint8
        assert dice(load_mask(output)[0], reference) > 0.9
    predictions, problems = find_predictions(tmp_path / "out")
    assert not problems and len(predictions) == 2
    assert all(files.cord is not None and files.lesion is None for files in predictions.values())


def test_a_rerun_skips_finished_outputs_and_redoes_changed_ones(phantom, case_writer, tmp_path):
    cases = [case_writer(f"p{i}", seed=i) for i in range(2)]
    images = [c["image"] for c in cases]
    outputs = cord_standin.run(images, tmp_path / "out", progress=False)
    stamps = [os.stat(p).st_mtime_ns for p in outputs]
    assert cord_standin.run(images, tmp_path / "out", progress=False) == outputs
    assert [os.stat(p).st_mtime_ns for p in outputs] == stamps
    image, _, _, affine = phantom(seed=9)
    nib.save(nib.Nifti1Image(image, affine), images[1])
    cord_standin.run(images, tmp_path / "out", progress=False)
    assert os.stat(outputs[0]).st_mtime_ns == stamps[0] and os.stat(outputs[1]).st_mtime_ns != stamps[1]
