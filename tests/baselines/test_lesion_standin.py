"""The lesion stand-in: hyperintense cord voxels, its threshold fitted on training images only."""

from __future__ import annotations

import os
import shutil

import nibabel as nib
import numpy as np
import pytest

from sclesion.baselines import cord_standin, lesion_standin
from sclesion.baselines.lesion_standin import LesionStandinParameters, TrainingCase
from sclesion.core.errors import InputError
from sclesion.core.nifti import load_image, load_mask
from sclesion.evaluation.evaluate import find_predictions
from sclesion.evaluation.lesions import count_lesions
from sclesion.evaluation.metrics import dice

PARAMETERS = LesionStandinParameters(threshold=5.0, min_volume_mm3=0.0, margin_voxels=-1)


def test_finds_a_bright_blob_in_the_cord_and_nothing_in_a_lesion_free_cord(phantom):
    image, cord, lesion, affine = phantom(seed=1, lesion_radius_mm=2.0)
    found = lesion_standin.segment_lesions(image, affine, cord_standin.segment_cord(image, affine), PARAMETERS)
    assert found.dtype == np.uint8 and found.shape == image.shape
    assert count_lesions(found) == 1 and dice(found, lesion) > 0.6
    image, _, _, affine = phantom(seed=2)
    assert not lesion_standin.segment_lesions(image, affine, cord_standin.segment_cord(image, affine),
                                              PARAMETERS).any()


def test_only_voxels_inside_the_search_region_are_scored(phantom):
    image, cord, lesion, affine = phantom(seed=3, lesion_radius_mm=2.0)
    elsewhere = np.zeros_like(cord)
    elsewhere[:, :, :2] = cord[:, :, :2]  # a cord mask far from the lesion
    assert not lesion_standin.segment_lesions(image, affine, elsewhere, PARAMETERS).any()


def test_the_minimum_volume_drops_small_lesions(phantom):
    image, cord, lesion, affine = phantom(seed=4, lesion_radius_mm=1.5)
    volume = lesion.sum() * 3.0  # voxels of 1 x 1 x 3 mm
    keep = LesionStandinParameters(threshold=5.0, min_volume_mm3=volume - 1, margin_voxels=0)
    drop = LesionStandinParameters(threshold=5.0, min_volume_mm3=volume + 4, margin_voxels=0)
    assert lesion_standin.segment_lesions(image, affine, cord, keep).sum() == lesion.sum()
    assert not lesion_standin.segment_lesions(image, affine, cord, drop).any()


def test_robust_z_is_relative_to_the_cords_own_median_and_mad():
    data = np.zeros((3, 3, 1), dtype=np.float32)
    data[:, :, 0] = [[1, 2, 3], [4, 5, 6], [7, 8, 100]]
    cord = np.ones_like(data, dtype=bool)
    z = lesion_standin.robust_z(data, cord, cord)
    mad = 1.4826 * 2.0  # median 5, absolute deviations 4 3 2 1 0 1 2 3 95 -> 2
    assert z[2, 2, 0] == pytest.approx(95 / mad) and z[1, 1, 0] == 0


def test_fit_chooses_parameters_from_the_training_images_only(case_writer):
    train = [case_writer(f"t{i}", seed=10 + i, lesion_radius_mm=2.0 if i % 2 else None) for i in range(4)]
    test = case_writer("x0", seed=20, lesion_radius_mm=2.0)
    cases = [TrainingCase(c["image"], c["cord"], c["lesion"]) for c in train]
    fitted = lesion_standin.fit(cases, progress=False)
    assert fitted.n_training_images == 4 and fitted.threshold in lesion_standin.THRESHOLD_GRID
    # The score is the mean Dice over all training images of the chosen parameters.
    dices = []
    for case in cases:
        data, affine = load_image(case.image)
        cord, lesion = load_mask(case.cord)[0], load_mask(case.lesion)[0]
        dices.append(dice(lesion_standin.segment_lesions(data, affine, cord, fitted), lesion))
    assert fitted.score == pytest.approx(np.mean(dices), abs=1e-4)
    # A test image does not move it, however it changes ...
    image, affine = load_image(test["image"])
    nib.save(nib.Nifti1Image(image * 0 + 7, affine), test["image"])
    assert lesion_standin.fit(cases, progress=False) == fitted
    # ... while the training images do: with fainter lesions the threshold must come down.
    for case in cases[1::2]:
        image, affine = load_image(case.image)
        image[load_mask(case.lesion)[0] > 0] -= 0.2
        nib.save(nib.Nifti1Image(image, affine), case.image)
    assert lesion_standin.fit(cases, progress=False).threshold < fitted.threshold


def test_fit_on_the_cord_standin_reads_no_reference_cord(case_writer):
    case = case_writer("t0", seed=5, lesion_radius_mm=2.0)
    case["cord"].unlink()
    fitted = lesion_standin.fit([TrainingCase(case["image"], None, case["lesion"])], progress=False)
    assert fitted.score > 0.6


def test_fit_without_training_images_is_an_input_error():
    with pytest.raises(InputError, match="no training image"):
        lesion_standin.fit([], progress=False)


def test_parameters_round_trip_through_json(tmp_path):
    fitted = LesionStandinParameters(threshold=3.5, min_volume_mm3=10.0, margin_voxels=-1, n_training_images=84,
                                     criterion=lesion_standin.CRITERION, score=0.87)
    assert LesionStandinParameters.load(fitted.save(tmp_path / "p.json")) == fitted
    for text in ('{"threshold": 1}', '{"threshold": "high", "min_volume_mm3": 0}', "[1, 2]", "{"):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(InputError, match="bad.json: not lesion stand-in parameters"):
            LesionStandinParameters.load(tmp_path / "bad.json")


@pytest.mark.parametrize("data, problem", [(np.zeros((4, 4)), "3D"), (np.full((8, 8, 4), np.nan), "finite")])
def test_bad_arrays_are_one_line_input_errors(data, problem):
    with pytest.raises(InputError, match=problem) as err:
        lesion_standin.segment_lesions(data, np.eye(4), np.ones(data.shape), PARAMETERS)
    assert "\n" not in str(err.value)


def test_run_reads_no_reference_and_reruns_only_when_the_parameters_change(case_writer, tmp_path):
    cases = [case_writer(f"p{i}", seed=i, lesion_radius_mm=2.0) for i in range(2)]
    references = [load_mask(c["lesion"])[0] for c in cases]
    shutil.rmtree(tmp_path / "bids" / "derivatives")
    images = [c["image"] for c in cases]
    outputs = lesion_standin.run(images, tmp_path / "out", PARAMETERS, progress=False)
    for case, reference, output in zip(cases, references, outputs):
        assert output.name == case["image"].name.replace("_T2w.nii.gz", "_T2w_lesion-lesionstandin.nii.gz")
        img = nib.load(output)
        assert img.shape == nib.load(case["image"]).shape and img.get_data_dtype() == np.uint8
        assert dice(load_mask(output)[0], reference) > 0.6
    predictions, problems = find_predictions(tmp_path / "out")
    assert not problems and all(f.lesion is not None and f.cord is None for f in predictions.values())
    stamps = [os.stat(p).st_mtime_ns for p in outputs]
    lesion_standin.run(images, tmp_path / "out", PARAMETERS, progress=False)
    assert [os.stat(p).st_mtime_ns for p in outputs] == stamps
    stricter = LesionStandinParameters(threshold=6.0, min_volume_mm3=0.0, margin_voxels=-1)
    lesion_standin.run(images, tmp_path / "out", stricter, progress=False)
    assert all(os.stat(p).st_mtime_ns != s for p, s in zip(outputs, stamps))
