"""sclesion.chapters.training_configurations: the training chapter's tables, on small hand-built folders
(no training)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.core.errors import InputError
from sclesion.evaluation.evaluate import METRIC_TABLE_COLUMNS
from sclesion.evaluation.store import SET_COLUMNS
from sclesion.nnunet.convert import CASE_COLUMNS
from sclesion.nnunet.plans import FULL_SI
from sclesion.chapters.training_configurations import (
    LABEL_METRICS, POOLED_COLUMNS, score_grid, full_si_table,
    grid_plans_table, grid_summary, headline, image_geometry, index_rows, pooled_detection,
    settings_changes, variants_table,
)
from sclesion.data.paper import table2 as paper_table2
from sclesion.nnunet.settings import settings_from_profile


def save(path: Path, data, zooms=(1.0, 1.0, 1.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data, np.uint8), np.diag([*zooms, 1.0])), path)
    return path


# --- datasets, settings, plans ---------------------------------------------------------------------------


def write_raw(work: Path, name: str, cases: list[tuple[str, str, str, tuple, tuple]]) -> None:
    """A converted dataset folder: case table + images (case id, subset, site, RPI shape, RPI voxel size)."""
    folder = work / "nnunet" / "raw" / name
    rows = []
    for case, subset, site, shape, zooms in cases:
        save(folder / subset / f"{case}_0000.nii.gz", np.zeros(shape), zooms)
        subject = case.split("_")[0]
        rows.append({"case_id": case, "subset": subset, "participant_id": subject, "session": "ses-01", "chunk": 1,
                     "site": site, "split": "train" if subset == "imagesTr" else "test", "image": "x", "cord": "x",
                     "lesion": "x", "inverse_field": "n/a", "native_reference": "n/a"})
    pd.DataFrame(rows, columns=CASE_COLUMNS).to_csv(folder / "cases.tsv", sep="\t", index=False)


def test_image_geometry_is_in_plans_order(tmp_path):
    path = save(tmp_path / "a.nii.gz", np.zeros((20, 30, 8)), (0.5, 0.6, 4.0))
    shape, spacing = image_geometry(path)
    assert shape == (8, 30, 20) and spacing == pytest.approx((4.0, 0.6, 0.5))


def test_variants_table_counts_images_and_subjects_per_site_with_median_geometry(tmp_path):
    small, large = (10, 12, 4), (10, 12, 8)
    write_raw(tmp_path, "Dataset901_ChunksNative", [
        ("sub-tum001_c1", "imagesTr", "TUM", small, (1.0, 1.0, 3.0)),
        ("sub-tum001_c2", "imagesTr", "TUM", large, (1.0, 1.0, 3.0)),
        ("sub-tum002_c1", "imagesTr", "TUM", large, (1.0, 1.0, 5.0)),
        ("sub-tum003_c1", "imagesTs_TUM", "TUM", large, (1.0, 1.0, 3.0)),
        ("sub-bwh001_c1", "imagesTs_BWH", "BWH", small, (0.5, 0.5, 3.0)),
    ])
    write_raw(tmp_path, "Dataset910_ChunksTwoSites", [
        ("sub-tum001_c1", "imagesTr", "TUM", small, (1.0, 1.0, 3.0)),
        ("sub-nyu001_c1", "imagesTr", "NYU", small, (1.0, 1.0, 3.0)),
        ("sub-bwh001_c1", "imagesTs_BWH", "BWH", small, (0.5, 0.5, 3.0)),
    ])
    table = variants_table(pd.DataFrame({"dataset": ["chunks_native", "chunks_two_sites"]}), tmp_path)
    assert list(zip(table["dataset"], table["site"])) == [
        ("chunks_native", "TUM"), ("chunks_native", "BWH"),
        ("chunks_two_sites", "TUM"), ("chunks_two_sites", "NYU"), ("chunks_two_sites", "BWH"),
    ]
    tum = table.iloc[0]
    assert (tum["n_training"], tum["n_test"], tum["training_subjects"], tum["test_subjects"]) == (3, 1, 2, 1)
    assert tum["shape"] == "(8, 12, 10)"  # S-I median of 4, 8, 8, 8
    assert tum["spacing_mm"] == "(3, 1, 1)"  # S-I median of 3, 3, 5, 3
    nyu = table.iloc[3]
    assert (nyu["n_training"], nyu["n_test"], nyu["test_subjects"]) == (1, 0, 0)  # a site without test images
    assert table.iloc[1]["spacing_mm"] == "(3, 0.5, 0.5)"
    assert table.iloc[2]["training_sites"] == "TUM, NYU"


def test_variants_table_asks_for_conversion(tmp_path):
    with pytest.raises(InputError, match="convert the dataset first"):
        variants_table(pd.DataFrame({"dataset": ["chunks_native"]}), tmp_path)


def test_settings_changes_lists_only_differing_method_settings():
    paper = settings_from_profile({"nnunet_grid": {"chunks_native": ["2d"]}, "nnunet_epochs": 1000,
                                   "nnunet_threads": 8})
    ours = settings_from_profile({"nnunet_grid": {"chunks_native": ["2d"]}, "nnunet_epochs": 10, "nnunet_threads": 2,
                                  "nnunet_plans": "small", "nnunet_base_features": 4, "nnunet_max_features": 16,
                                  "nnunet_max_stages": 3, "nnunet_batch_size": {"2d": 2}})
    table = settings_changes(ours, paper).set_index("setting")
    assert list(table.index) == ["nnunet_epochs", "nnunet_plans", "nnunet_base_features", "nnunet_max_features",
                                 "nnunet_max_stages", "nnunet_batch_size"]  # threads are resources, not method
    assert table.loc["nnunet_epochs"].tolist() == ["10", "1000"]
    assert table.loc["nnunet_base_features"].tolist() == ["4", "nnU-Net's plans"]
    assert table.loc["nnunet_batch_size", "value"] == "2d: 2"
    assert settings_changes(paper, paper).empty


def configuration(patch, spacing, strides, kernels, features, batch=2):
    return {"data_identifier": "nnUNetPlans_3d", "batch_size": batch, "patch_size": patch, "spacing": spacing,
            "architecture": {"arch_kwargs": {"n_stages": len(strides), "features_per_stage": features,
                                             "kernel_sizes": kernels, "strides": strides}}}


@pytest.fixture
def planned(tmp_path):
    """Plans (2d, 3d_fullres, full S-I) and a fingerprint of three training images 40, 60 and 50 slices of 3 mm."""
    folder = tmp_path / "nnunet" / "preprocessed" / "Dataset902_StitchedNative"
    folder.mkdir(parents=True)
    plans = {"plans_name": "nnUNetPlans", "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2],
             "configurations": {
                 "2d": configuration([64, 64], [1.0, 1.0], [[1, 1], [2, 2]], [[3, 3], [3, 3]], [32, 64], batch=12),
                 "3d_fullres": configuration([16, 64, 64], [3.0, 1.0, 1.0], [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                                             [[1, 3, 3], [3, 3, 3], [3, 3, 3]], [32, 64, 128]),
                 FULL_SI: {"inherits_from": "3d_fullres", "patch_size": [64, 64, 64]},
             }}
    (folder / "nnUNetPlans.json").write_text(json.dumps(plans))
    fingerprint = {"shapes_after_crop": [[40, 50, 50], [60, 50, 50], [50, 50, 50]], "spacings": [[3.0, 1.0, 1.0]] * 3}
    (folder / "dataset_fingerprint.json").write_text(json.dumps(fingerprint))
    return tmp_path


def test_grid_plans_table_has_table_a1_rows(planned):
    table = grid_plans_table(planned, {"stitched_native": ("2d", "3d_fullres")}, "nnUNetPlans")
    assert table[["variant", "configuration", "batch_size", "patch_size"]].values.tolist() == [
        ["stitched_native", "2d", 12, "(64, 64)"], ["stitched_native", "3d_fullres", 2, "(16, 64, 64)"]]
    assert table.loc[1, "kernel_sizes"] == "(1,3,3)x1,(3,3,3)x2"
    with pytest.raises(InputError, match="plans file not found"):
        grid_plans_table(planned, {"chunks_native": ("2d",)}, "nnUNetPlans")


def test_full_si_table_compares_patch_and_image_extents_in_mm(planned):
    row = full_si_table(planned, ["stitched_native"], "nnUNetPlans").iloc[0]
    assert (row["patch_3d_fullres"], row["patch_full_si"]) == ("(16, 64, 64)", "(64, 64, 64)")
    assert (row["si_spacing_mm"], row["patch_si_mm"], row["full_si_mm"]) == (3.0, 48.0, 192.0)
    assert (row["median_image_si_mm"], row["max_image_si_mm"]) == (150.0, 180.0)
    assert row["patch_covers"] == 0.32  # 48 / 150


# --- evaluating fake predictions -------------------------------------------------------------------------


SHAPE = (12, 12, 6)


def stem(subject: str, chunk: int) -> str:
    return f"sub-{subject}_ses-01_acq-ax_chunk-{chunk}_T2w"


def cord_block():
    cord = np.zeros(SHAPE, np.uint8)
    cord[4:8, 4:8, 1:5] = 1  # 64 voxels
    return cord


@pytest.fixture
def predicted(tmp_path):
    """References (BIDS labels) of two chunks of sub-tum003 and a mask folder predicting them.

    Chunk 1: reference lesions at two places; the prediction finds one, misses one and adds one outside.
    Chunk 2: no reference lesion and no predicted lesion. Predicted cord: one of the 4 slices missing
    (48 of 64 voxels): Dice 2*48/112.
    """
    bids, masks = tmp_path / "bids", tmp_path / "pred" / "masks"
    labels = bids / "derivatives" / "labels" / "sub-tum003" / "ses-01" / "anat"
    for chunk in (1, 2):
        lesion = np.zeros(SHAPE, np.uint8)
        predicted_lesion = np.zeros(SHAPE, np.uint8)
        if chunk == 1:
            lesion[4:6, 4:6, 1:2] = 1
            lesion[6:8, 6:8, 3:5] = 1
            predicted_lesion[4:6, 4:6, 1:2] = 1
            predicted_lesion[4:6, 6:8, 2:3] = 1  # inside the cord, on no reference lesion: a false positive
        save(labels / f"{stem('tum003', chunk)}_seg-manual.nii.gz", cord_block())
        save(labels / f"{stem('tum003', chunk)}_lesion-manual.nii.gz", lesion)
        cord = cord_block()
        cord[:, :, 4] = 0
        save(masks / f"{stem('tum003', chunk)}_seg-pred.nii.gz", np.maximum(cord, predicted_lesion))
        save(masks / f"{stem('tum003', chunk)}_lesion-pred.nii.gz", predicted_lesion)
    index = pd.DataFrame([{"dataset": "chunks_native", "variant": "chunks_native", "configuration": "2d", "fold": 0,
                           "site": "TUM", "n_images": 2, "labelmaps": tmp_path / "pred" / "labelmaps",
                           "masks": masks, "reference_root": bids}])
    return index


def test_score_grid_gives_one_row_per_image_and_label(predicted, tmp_path):
    results = score_grid(predicted, tmp_path / "work", progress=False)
    table = results.metrics[results.metrics["scoring"] == "image"]
    assert list(table.columns) == SET_COLUMNS + ["scoring", "image"] + list(METRIC_TABLE_COLUMNS)
    assert len(table) == 4
    cord = table[table["label"] == "cord"]
    assert np.allclose(cord["Dice"], 2 * 48 / 112)
    lesion = table[table["label"] == "lesion"].set_index("image")
    first = lesion.loc["sub-tum003_ses-01_acq-ax_chunk-1"]
    assert (first["LesionTP"], first["LesionFN"], first["LesionFP"]) == (1, 1, 1)
    assert first["F1ScoreL"] == pytest.approx(1 / (1 + 1))  # TP / (TP + (FP + FN) / 2)
    assert lesion.loc["sub-tum003_ses-01_acq-ax_chunk-2", "F1ScoreL"] == 1.0  # both empty
    assert set(table["site"]) == {"TUM"} and set(table["fold"]) == {0}
    assert set(table["method"]) == {"chunks_native 2d"}


def test_score_grid_stacks_the_chunks_of_a_session(predicted, tmp_path):
    results = score_grid(predicted, tmp_path / "work", progress=False)
    table = results.metrics[results.metrics["scoring"] == "session"]
    assert len(table) == 2
    assert table["image"].tolist() == ["sub-tum003_ses-01_acq-ax"] * 2
    assert table["n_chunks"].tolist() == [2, 2]
    lesion = table[table["label"] == "lesion"].iloc[0]
    assert lesion["F1ScoreL"] == pytest.approx(0.5)
    again = score_grid(predicted, tmp_path / "work", progress=False)
    assert set(again.status["status"]) == {"kept"}  # nothing changed: nothing evaluated


def test_score_grid_refuses_a_test_set_with_missing_predictions(predicted, tmp_path):
    (predicted.loc[0, "masks"] / f"{stem('tum003', 2)}_seg-pred.nii.gz").unlink()
    (predicted.loc[0, "masks"] / f"{stem('tum003', 2)}_lesion-pred.nii.gz").unlink()
    with pytest.raises(InputError, match="no prediction"):
        score_grid(predicted, tmp_path / "work", progress=False)


def test_score_grid_checks_the_number_of_test_images(predicted, tmp_path):
    predicted.loc[0, "n_images"] = 3
    with pytest.raises(InputError, match="2 of the 3 test images"):
        score_grid(predicted, tmp_path / "work", progress=False)


def test_index_rows_keep_the_grid_models():
    index = pd.DataFrame({"dataset": ["chunks_native", "chunks_native", "stitched_native"],
                          "configuration": ["2d", "3d_fullres", "2d"], "fold": [0, 0, 0], "site": ["TUM"] * 3})
    jobs = [SimpleNamespace(dataset="chunks_native", configuration="2d", fold=0),
            SimpleNamespace(dataset="stitched_native", configuration="2d", fold=1)]
    assert index_rows(index, jobs)[["dataset", "configuration"]].values.tolist() == [["chunks_native", "2d"]]


# --- summaries on hand-made metric tables ----------------------------------------------------------------


def metric_rows(rows: list[dict]) -> pd.DataFrame:
    """A metrics table like score_grid's with only the given columns filled (others NaN)."""
    base = {"method": "chunks_native 2d", "kind": "model", "dataset": "chunks_native", "variant": "chunks_native",
            "configuration": "2d", "fold": 0, "site": "TUM", "scoring": "image"}
    table = pd.DataFrame([{**base, **row} for row in rows])
    return table.reindex(columns=SET_COLUMNS + ["scoring", "image"] + list(METRIC_TABLE_COLUMNS))


def test_grid_summary_averages_per_model_site_and_label_skipping_nan():
    metrics = metric_rows([
        {"image": "a", "label": "cord", "Dice": 0.5, "NSD": np.nan},
        {"image": "b", "label": "cord", "Dice": 1.0, "NSD": 0.4},
        {"image": "a", "label": "lesion", "Dice": 0.0, "NSD": 0.2},
        {"image": "c", "label": "cord", "Dice": 0.25, "site": "BWH"},
    ])
    summary = grid_summary(metrics)
    assert summary[["site", "label", "n"]].values.tolist() == [
        ["TUM", "cord", 2], ["TUM", "lesion", 1], ["BWH", "cord", 1]]
    assert summary.loc[0, "Dice"] == 0.75 and summary.loc[0, "NSD"] == pytest.approx(0.4)
    assert summary.loc[2, "Dice"] == 0.25
    assert set(LABEL_METRICS["lesion"]) <= set(summary.columns)


def test_pooled_detection_counts_lesions_not_images():
    metrics = metric_rows([
        {"image": "a", "label": "lesion", "RefLesionsCount": 2, "LesionTP": 1, "PredLesionsCount": 2, "LesionFP": 1},
        {"image": "b", "label": "lesion", "RefLesionsCount": 0, "LesionTP": 0, "PredLesionsCount": 0, "LesionFP": 0},
        {"image": "c", "label": "lesion", "RefLesionsCount": 0, "LesionTP": 0, "PredLesionsCount": 1, "LesionFP": 1},
        {"image": "a", "label": "cord", "RefLesionsCount": 1, "LesionTP": 1, "PredLesionsCount": 1, "LesionFP": 0},
    ])
    row = pooled_detection(metrics).iloc[0]
    assert row[POOLED_COLUMNS].tolist() == pytest.approx([3, 2, 1, 2, 1, 0.5, 3, 1, 1 / 3])


def test_pooled_detection_fraction_without_lesions_is_nan():
    metrics = metric_rows([{"image": "b", "label": "lesion", "RefLesionsCount": 0, "LesionTP": 0,
                            "PredLesionsCount": 0, "LesionFP": 0}])
    row = pooled_detection(metrics).iloc[0]
    assert np.isnan(row["found_fraction"]) and np.isnan(row["true_fraction"])


def test_paper_table2_reads_the_single_site_chunks_model():
    table = paper_table2("TUM")
    assert table.loc["F1ScoreL", "mean"] == 0.64 and table.loc["Dice", "sd"] == 0.34
    assert table["n_images"].iloc[0] == 126
    assert paper_table2("nowhere").empty


def test_headline_beside_targets_and_paper():
    per_image = metric_rows([
        {"image": "a", "label": "cord", "Dice": 0.9},
        {"image": "b", "label": "cord", "Dice": 0.86},
        {"image": "a", "label": "lesion", "Dice": 0.6, "F1ScoreL": 1.0, "PPVL": 1.0,
         "RefLesionsCount": 2, "LesionTP": 1, "PredLesionsCount": 1, "LesionFP": 0},
        {"image": "b", "label": "lesion", "Dice": 0.0, "F1ScoreL": 0.0, "PPVL": 0.0,
         "RefLesionsCount": 1, "LesionTP": 0, "PredLesionsCount": 1, "LesionFP": 1},
        {"image": "z", "label": "cord", "Dice": 0.1, "configuration": "3d_fullres"},  # another model: ignored
    ])
    per_session = metric_rows([
        {"image": "s", "label": "cord", "Dice": 0.8},
        {"image": "s", "label": "lesion", "Dice": 0.4, "F1ScoreL": 0.6, "PPVL": 0.5,
         "RefLesionsCount": 3, "LesionTP": 1, "PredLesionsCount": 2, "LesionFP": 1},
    ])
    table = headline(per_image, per_session).set_index("quantity")
    assert table.loc["cord Dice", "per_image"] == pytest.approx(0.88)
    assert table.loc["cord Dice", "target"] == 0.85
    assert not table.loc["cord Dice", "meets_target"]  # per session 0.80 < 0.85
    assert np.isnan(table.loc["cord Dice", "paper"])  # the paper gives no cord Dice for this model
    assert table.loc["lesion-wise F1", "per_image"] == 0.5 and table.loc["lesion-wise F1", "meets_target"]
    assert (table.loc["lesion-wise F1", "paper"], table.loc["lesion-wise F1", "paper_sd"]) == (0.64, 0.36)
    assert table.loc["lesion Dice", "paper"] == 0.60
    assert table.loc["lesion Dice, median", "paper"] == 0.72 and table.loc["lesion Dice, median", "per_image"] == 0.3
    found = table.loc["lesions found (pooled)"]
    assert found["per_image"] == pytest.approx(1 / 3) and found["per_session"] == pytest.approx(1 / 3)
    assert found["detail"] == "1 of 3 (per image)"
    true = table.loc["predicted lesions that are true (pooled)"]
    assert true["per_image"] == pytest.approx(0.5) and true["per_session"] == pytest.approx(0.5)
    assert headline(per_image).loc[0, "meets_target"]  # per image only: 0.88 >= 0.85
    with pytest.raises(InputError, match="no evaluated test image"):
        headline(per_image, site="BWH")


def test_last_epochs_gives_the_first_epoch_with_a_lesion_pseudo_dice():
    from sclesion.chapters.training_configurations import last_epochs

    curves = pd.DataFrame({
        "dataset": ["a"] * 3 + ["b"] * 2, "configuration": ["2d"] * 3 + ["3d_fullres"] * 2, "fold": 0,
        "epoch": [0, 1, 2, 0, 1], "epoch_seconds": 30.0, "train_loss": [0.5, 0.1, -0.2, 0.4, 0.3],
        "val_loss": 0.0, "pseudo_dice_cord": 0.9, "pseudo_dice_lesion": [0.0, 0.4, 0.0, 0.0, 0.0],
    })
    table = last_epochs(curves)
    assert table["epochs"].tolist() == [3, 2] and table["minutes"].tolist() == [1.5, 1.0]
    assert table["lesion_from_epoch"].iloc[0] == 1 and np.isnan(table["lesion_from_epoch"].iloc[1])
    assert table["train_loss"].tolist() == [-0.2, 0.3]
