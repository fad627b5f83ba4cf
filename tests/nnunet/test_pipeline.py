"""The nnU-Net pipeline on the smoke cohort: conversion, planning, one 2d and one 3d training, prediction.

The smoke profile's grid (chunks_native 2d, stitched_straightened 3d_fullres; a tiny network, 1 epoch of 2
iterations) is run once per module in a temporary work folder: planning ~20 s per dataset, each training
~10 s, each prediction a few seconds. The trainings run one after the other (never two at a time).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.data.bids import discover, split_extension
from sclesion.core.errors import InputError
from sclesion.core.nifti import axcodes, load_image, reorient, to_rpi
from sclesion.nnunet.convert import (
    CASE_COLUMNS, CASES_TSV, MARKER, convert_case, convert_dataset, plan_cases, read_cases, region_label_map,
)
from sclesion.nnunet.curves import CURVE_COLUMNS, grid_curves, training_curves
from sclesion.nnunet.datasets import DATASETS, NnunetFolders
from sclesion.nnunet.preprocess import PREPROCESSED_MARKER, plan, planning_done
from sclesion.nnunet.plans import FULL_SI, full_si_patch, load_plans, plans_table, resolve_configuration
from sclesion.nnunet.predict import load_model, predict_files
from sclesion.nnunet.runner import grid_jobs, run_local, submit
from sclesion.nnunet.trainer import Schedule, read_schedule
from sclesion.nnunet.jobs import subject_folds
from sclesion.core.profile import Profile
from sclesion.core.provenance import read_record
from sclesion.data.split import read_split
from sclesion.preprocessing.variants import build_variants, variant_root

NATIVE, STRAIGHT = DATASETS["chunks_native"], DATASETS["stitched_straightened"]
TRAINER = "nnUNetTrainerDiceCELoss_noSmooth"  # nnU-Net's own name: its tools load our models


# --- shared, expensive fixtures (each runs once per module) ------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nnunet_work")


@pytest.fixture(scope="module")
def split(repo_root) -> pd.DataFrame:
    return read_split(repo_root / "data_manifest" / "splits" / "smoke.tsv")


@pytest.fixture(scope="module")
def settings():
    return Profile.load("smoke").nnunet


@pytest.fixture(scope="module")
def converted(smoke_bids, work, split) -> dict[str, pd.DataFrame]:
    """chunks_native and stitched_straightened (its variants built first) converted to nnU-Net raw format."""
    build_variants(smoke_bids, work, variants=("stitched_native", "stitched_straightened"), progress=False)
    return {spec.key: convert_dataset(spec, smoke_bids, work, split, progress=False) for spec in (NATIVE, STRAIGHT)}


@pytest.fixture(scope="module")
def planned(converted, work, settings) -> dict[str, Path]:
    return {spec.key: plan(spec, work, settings) for spec in (NATIVE, STRAIGHT)}


@pytest.fixture(scope="module")
def trained_2d(planned, work, settings):
    """chunks_native 2d fold 0, trained with run_local over the debris of an interrupted run, then run again."""
    (job,) = grid_jobs(settings, work, ["chunks_native"])
    job.fold_dir.mkdir(parents=True)
    (job.fold_dir / "stale_from_an_interrupted_run.txt").write_text("x")
    first = run_local([job], progress=False)
    second = run_local([job], progress=False)
    return job, first, second


@pytest.fixture(scope="module")
def trained_3d(trained_2d, work, settings, tmp_path_factory):
    """stitched_straightened 3d_fullres fold 0, submitted through submitit's DebugExecutor (in this process)."""
    import submitit

    (job,) = grid_jobs(settings, work, ["stitched_straightened"])
    executor = submitit.DebugExecutor(folder=tmp_path_factory.mktemp("submitit"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pdb.post_mortem", lambda *args, **kwargs: None)  # a failure must fail, not wait in pdb
        submitted = submit([job], executor)
        results = [s.result() for s in submitted]
    again = submit([job], executor)
    return job, submitted, results, again


@pytest.fixture(scope="module")
def predicted_2d(trained_2d, converted, tmp_path_factory):
    """One TUM test chunk (a thoracic one: its S-I size differs from the in-plane ones) predicted with the 2d
    model, and predicted again (rerun)."""
    job = trained_2d[0]
    cases = converted["chunks_native"]
    image = cases.loc[(cases["subset"] == "imagesTs_TUM") & (cases["chunk"] == 2), "image"].iloc[0]
    out = tmp_path_factory.mktemp("predictions_2d")
    first = predict_files(job.model_dir, [image], out, threads=2, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.nii.gz")}
    second = predict_files(job.model_dir, [image], out, threads=2, progress=False)
    return image, out, first, second, stamps


def _data(path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj)


def _mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


# --- conversion --------------------------------------------------------------------------------------------


def test_chunks_native_has_training_cases_and_one_test_set_per_site(converted, work):
    cases = converted["chunks_native"]
    # TUM train subjects tum001, tum002: 2 sessions x 3 chunks each; test: tum003 (2 x 3), bwh001, ucsf001 (1 chunk);
    # nyu001 is a train subject of a site that chunks_native does not train on
    assert cases["subset"].value_counts().to_dict() == {"imagesTr": 12, "imagesTs_TUM": 6, "imagesTs_BWH": 1,
                                                        "imagesTs_UCSF": 1}
    assert "sub-nyu001" not in set(cases["participant_id"])
    folder = NnunetFolders(work).raw / NATIVE.name
    assert {p.name for p in folder.iterdir() if p.is_dir()} == {
        "imagesTr", "labelsTr", "imagesTs_TUM", "labelsTs_TUM", "imagesTs_BWH", "labelsTs_BWH", "imagesTs_UCSF",
        "labelsTs_UCSF"}
    bwh = "sub-bwh001_ses-20180227_acq-ax_chunk-1"
    assert [p.name for p in (folder / "imagesTs_BWH").iterdir()] == [f"{bwh}_0000.nii.gz"]
    assert [p.name for p in (folder / "labelsTs_BWH").iterdir()] == [f"{bwh}.nii.gz"]
    assert len(list((folder / "imagesTr").glob("*_0000.nii.gz"))) == len(list((folder / "labelsTr").iterdir())) == 12
    dataset = json.loads((folder / "dataset.json").read_text())
    assert dataset["numTraining"] == 12 and dataset["labels"] == {"background": 0, "sc": [1, 2], "lesion": 2}
    assert dataset["regions_class_order"] == [1, 2] and dataset["image_orientation"] == "RPI"


def test_case_ids_are_the_bids_stems(converted, smoke_bids, split):
    cases = converted["chunks_native"]
    bwh = cases.loc[cases["subset"] == "imagesTs_BWH", "case_id"].tolist()
    assert bwh == ["sub-bwh001_ses-20180227_acq-ax_chunk-1"]
    images = discover(smoke_bids).merge(split, on="participant_id", suffixes=("", "_split"))
    used = images[(images["split"] == "test") | (images["site"] == "TUM")]
    expected = sorted(split_extension(Path(p).name)[0].removesuffix("_T2w") for p in used["image"])
    assert sorted(cases["case_id"]) == expected
    for row in cases.itertuples():
        assert row.case_id == f"{row.participant_id}_{row.session}_acq-ax_chunk-{row.chunk}"


def test_written_images_are_rpi_and_labels_are_the_region_map(converted, work):
    folder = NnunetFolders(work).raw / NATIVE.name
    seen = set()
    for row in converted["chunks_native"].itertuples():
        labels_folder = "labelsTr" if row.subset == "imagesTr" else row.subset.replace("images", "labels")
        image = nib.load(folder / row.subset / f"{row.case_id}_0000.nii.gz")
        label = nib.load(folder / labels_folder / f"{row.case_id}.nii.gz")
        assert nib.aff2axcodes(image.affine) == ("L", "A", "S") == nib.aff2axcodes(label.affine)
        assert image.get_data_dtype() == np.float32 and label.get_data_dtype() == np.uint8
        source, affine = load_image(row.image)
        rpi, rpi_affine = to_rpi(source, affine)
        np.testing.assert_allclose(image.affine, rpi_affine, atol=1e-4)
        np.testing.assert_allclose(label.affine, rpi_affine, atol=1e-4)
        np.testing.assert_array_equal(np.asanyarray(image.dataobj), rpi)
        cord, _ = to_rpi(load_image(row.cord)[0], affine)
        lesion, _ = to_rpi(load_image(row.lesion)[0], affine)
        values = np.asanyarray(label.dataobj)
        np.testing.assert_array_equal(values, region_label_map(cord, lesion))
        assert np.all(lesion[values == 2] == 1)  # 2: lesion
        assert np.all((cord[values == 1] == 1) & (lesion[values == 1] == 0))  # 1: cord without lesion
        assert np.all(values[cord > 0.5] >= 1)  # the cord mask is all inside the cord region
        assert not np.any((cord + lesion)[values == 0] > 0.5)
        seen |= set(np.unique(values).tolist())
    assert seen == {0, 1, 2}


def test_an_lps_image_is_written_rpi_without_resampling(smoke_bids, split, tmp_path):
    # nyu001 (a training subject of the two-site dataset 910) is stored with axcodes (L, P, S)
    cases = plan_cases(DATASETS["chunks_two_sites"], smoke_bids, split)
    nyu = cases[cases["participant_id"] == "sub-nyu001"]
    assert nyu["subset"].tolist() == ["imagesTr"]
    row = nyu.iloc[0]
    source = nib.load(row["image"])
    assert nib.aff2axcodes(source.affine) == ("L", "P", "S")
    convert_case(row["image"], row["cord"], row["lesion"], tmp_path / "image.nii.gz", tmp_path / "label.nii.gz")
    out = nib.load(tmp_path / "image.nii.gz")
    assert nib.aff2axcodes(out.affine) == ("L", "A", "S") and out.shape == source.shape
    np.testing.assert_array_equal(out.get_fdata(), source.get_fdata()[:, ::-1, :])  # axis 1 flipped
    ny = source.shape[1]
    for i, j, k in [(0, 0, 0), (3, 5, 7)]:  # the same voxel centre, same world position
        np.testing.assert_allclose(out.affine @ [i, j, k, 1], source.affine @ [i, ny - 1 - j, k, 1], atol=1e-4)
    assert nib.aff2axcodes(nib.load(tmp_path / "label.nii.gz").affine) == ("L", "A", "S")


def test_case_table_round_trips_through_cases_tsv(converted, work, smoke_bids, split):
    folder = NnunetFolders(work).raw / NATIVE.name
    header = (folder / CASES_TSV).read_text().splitlines()[0]
    assert header.split("\t") == CASE_COLUMNS
    table = read_cases(folder)
    planned = plan_cases(NATIVE, smoke_bids, split)
    assert list(table.columns) == CASE_COLUMNS and len(table) == len(planned) == 20
    for column in CASE_COLUMNS:
        assert table[column].tolist() == planned[column].tolist(), column
    assert table["chunk"].dtype == "Int64" and set(table["chunk"]) == {1, 2, 3}
    assert all(isinstance(p, Path) and p.is_file() for p in table["image"])
    assert table["inverse_field"].isna().all() and table["native_reference"].isna().all()


def test_conversion_is_deterministic(converted, work, smoke_bids, split, tmp_path):
    again = convert_dataset(NATIVE, smoke_bids, tmp_path, split, progress=False)
    assert again["case_id"].tolist() == converted["chunks_native"]["case_id"].tolist()
    first = NnunetFolders(work).raw / NATIVE.name
    second = NnunetFolders(tmp_path).raw / NATIVE.name
    assert (second / CASES_TSV).read_text() == (first / CASES_TSV).read_text()
    assert (second / "dataset.json").read_text() == (first / "dataset.json").read_text()


def test_rerun_is_a_no_op(converted, work, smoke_bids, split):
    folder = NnunetFolders(work).raw / NATIVE.name
    before = _mtimes(folder)
    again = convert_dataset(NATIVE, smoke_bids, work, split, progress=False)
    assert _mtimes(folder) == before
    pd.testing.assert_frame_equal(again, converted["chunks_native"])


def test_a_folder_without_the_completion_marker_is_refused(smoke_bids, split, tmp_path):
    folder = NnunetFolders(tmp_path).raw / NATIVE.name
    (folder / "imagesTr").mkdir(parents=True)
    with pytest.raises(InputError, match="no completion marker"):
        convert_dataset(NATIVE, smoke_bids, tmp_path, split, progress=False)
    assert not (folder / MARKER).exists()


def test_a_folder_converted_from_other_inputs_is_refused(converted, work, smoke_bids, split, tmp_path):
    source = NnunetFolders(work).raw / NATIVE.name
    shutil.copytree(source, NnunetFolders(tmp_path).raw / NATIVE.name)
    assert len(convert_dataset(NATIVE, smoke_bids, tmp_path, split, progress=False)) == 20  # same inputs: accepted
    fewer = split[split["participant_id"] != "sub-tum002"]
    with pytest.raises(InputError, match="converted from other inputs"):
        convert_dataset(NATIVE, smoke_bids, tmp_path, fewer, progress=False)


def test_straightened_cases_list_their_inverse_field_and_native_image(converted, work, smoke_bids):
    cases = converted["stitched_straightened"]
    assert cases["subset"].value_counts().to_dict() == {"imagesTr": 4, "imagesTs_TUM": 2}  # sessions of TUM
    straight_root = variant_root("stitched_straightened", smoke_bids, work).resolve()
    native_root = variant_root("stitched_native", smoke_bids, work).resolve()
    test = cases[cases["subset"] == "imagesTs_TUM"]
    assert set(test["participant_id"]) == {"sub-tum003"}
    for row in test.itertuples():
        stem = split_extension(row.image.name)[0]
        assert row.inverse_field.is_file() and row.inverse_field.name == f"{stem}_from-straight_to-native_xfm.nii.gz"
        assert row.native_reference == native_root / row.image.relative_to(straight_root)
        assert row.native_reference.is_file()
        field, native = nib.load(row.inverse_field), nib.load(row.native_reference)
        assert field.shape[:3] == native.shape  # the field lives on the native grid
        np.testing.assert_allclose(field.affine, native.affine, atol=1e-4)
    first = test["case_id"].iloc[0]
    written = nib.load(NnunetFolders(work).raw / STRAIGHT.name / "imagesTs_TUM" / f"{first}_0000.nii.gz")
    assert nib.aff2axcodes(written.affine) == ("L", "A", "S")


# --- planning ----------------------------------------------------------------------------------------------


def test_planning_writes_the_tiny_plans_beside_nnunets(planned, work):
    folder = NnunetFolders(work).preprocessed / NATIVE.name
    assert planned["chunks_native"] == folder / "nnUNetPlansTiny.json"
    tiny = load_plans(planned["chunks_native"])
    assert tiny["plans_name"] == "nnUNetPlansTiny"
    config = resolve_configuration(tiny, "2d")
    arch = config["architecture"]["arch_kwargs"]
    assert arch["n_stages"] <= 3 and arch["features_per_stage"] == [4, 8, 16][: arch["n_stages"]]
    assert config["batch_size"] == 2
    for axis, size in enumerate(config["patch_size"]):
        step = int(np.prod([s[axis] for s in arch["strides"]]))
        assert size <= 32 and size % step == 0
    default = load_plans(folder / "nnUNetPlans.json")
    assert default["plans_name"] == "nnUNetPlans"
    identifiers = {resolve_configuration(p, "2d")["data_identifier"] for p in (tiny, default)}
    assert identifiers == {"nnUNetPlans_2d"}  # the tiny plans train on the data preprocessed for nnU-Net's


def test_planning_adds_the_full_si_configuration(planned, work):
    folder = NnunetFolders(work).preprocessed / STRAIGHT.name
    plans = load_plans(folder / "nnUNetPlans.json")
    fingerprint = json.loads((folder / "dataset_fingerprint.json").read_text())
    full = plans["configurations"][FULL_SI]
    assert full["inherits_from"] == "3d_fullres" and full["patch_size"] == full_si_patch(plans, fingerprint)
    parent = resolve_configuration(plans, "3d_fullres")
    axis = plans["transpose_forward"].index(0)  # SimpleITK arrays: S-I is reader axis 0
    longest_mm = max(shape[0] * spacing[0] for shape, spacing in
                     zip(fingerprint["shapes_after_crop"], fingerprint["spacings"]))
    assert full["patch_size"][axis] * parent["spacing"][axis] >= longest_mm - 1e-3
    tiny = plans_table(load_plans(planned["stitched_straightened"]), "stitched_straightened")
    assert FULL_SI in set(tiny["configuration"]) and set(tiny["n_stages"]) <= {2, 3}


def test_planning_preprocesses_only_what_the_grid_trains(planned, work):
    preprocessed = NnunetFolders(work).preprocessed
    assert (preprocessed / NATIVE.name / "nnUNetPlans_2d" / PREPROCESSED_MARKER).is_file()
    assert not (preprocessed / NATIVE.name / "nnUNetPlans_3d_fullres").exists()
    assert (preprocessed / STRAIGHT.name / "nnUNetPlans_3d_fullres" / PREPROCESSED_MARKER).is_file()
    assert not (preprocessed / STRAIGHT.name / "nnUNetPlans_2d").exists()
    assert planning_done(preprocessed / NATIVE.name, ["2d"])
    assert not planning_done(preprocessed / NATIVE.name, ["3d_fullres"])


def test_planning_again_starts_no_nnunet_process(planned, work, settings):
    log = NnunetFolders(work).logs / f"plan_{NATIVE.name}.log"
    stamp = log.stat().st_mtime_ns
    assert plan(NATIVE, work, settings) == planned["chunks_native"]
    assert log.stat().st_mtime_ns == stamp


# --- training ----------------------------------------------------------------------------------------------


def test_trainer_class_derives_from_the_papers_trainer():
    from nnunetv2.training.nnUNetTrainer.variants.loss.nnUNetTrainerDiceLoss import nnUNetTrainerDiceCELoss_noSmooth

    from sclesion.nnunet.trainer import trainer_class

    cls = trainer_class(Schedule("nnUNetTrainerDiceCELoss_noSmooth", 1, 2, 1, 0.8, 0.03))
    assert cls.__name__ == TRAINER
    assert issubclass(cls, nnUNetTrainerDiceCELoss_noSmooth) and cls is not nnUNetTrainerDiceCELoss_noSmooth
    with pytest.raises(ValueError, match="no trainer class 'nnUNetTrainerNope'"):
        trainer_class(Schedule("nnUNetTrainerNope", 1, 2, 1))
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        trainer_class(Schedule(TRAINER, 1, 2, 1, optimizer="adam"))


@pytest.mark.parametrize("optimizer, kind, extra", [("sgd", "SGD", {"momentum": 0.99, "nesterov": True}),
                                                    ("adamw", "AdamW", {"amsgrad": True})])
def test_trainer_builds_the_scheduled_optimizer(optimizer, kind, extra):
    import torch

    from sclesion.nnunet.trainer import trainer_class

    cls = trainer_class(Schedule(TRAINER, 4, 2, 1, 0.8, 0.003, optimizer=optimizer))
    trainer = SimpleNamespace(network=torch.nn.Linear(2, 2), initial_lr=0.003, weight_decay=3e-5, num_epochs=4)
    built, schedule = cls.configure_optimizers(trainer)
    assert type(built).__name__ == kind
    group = built.param_groups[0]
    assert group["lr"] == 0.003 and group["weight_decay"] == 3e-5
    assert {key: group[key] for key in extra} == extra
    schedule.step(2)  # the poly decay applies to either optimizer
    assert group["lr"] == pytest.approx(0.003 * 0.5 ** 0.9)


def test_local_training_replaces_an_interrupted_fold_and_resumes(trained_2d):
    job, first, second = trained_2d
    assert first.to_dict("records")[0]["status"] == "trained" and first["job"].tolist() == ["chunks_native 2d fold 0"]
    assert second["status"].tolist() == ["done"]
    assert job.model_dir.name == f"{TRAINER}__nnUNetPlansTiny__2d"
    assert (job.fold_dir / "checkpoint_final.pth").is_file()
    assert read_schedule(job.fold_dir) == job.schedule == Schedule(TRAINER, 1, 2, 1, 0.8, 0.03)
    assert not (job.fold_dir / "stale_from_an_interrupted_run.txt").exists()


def test_training_writes_subject_level_folds(trained_2d, converted, work):
    path = NnunetFolders(work).preprocessed / NATIVE.name / "splits_final.json"
    folds = json.loads(path.read_text())
    assert folds == subject_folds(converted["chunks_native"], 2)
    for fold in folds:  # two training subjects: one validates while the other trains
        assert len({c.split("_")[0] for c in fold["val"]}) == 1 and len(fold["val"]) == len(fold["train"]) == 6


def test_checkpoint_records_the_configuration_and_trainer(trained_2d):
    import torch

    job = trained_2d[0]
    saved = torch.load(job.fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert saved["init_args"]["configuration"] == "2d" and saved["init_args"]["fold"] == 0
    assert saved["trainer_name"] == TRAINER


def test_training_curves_have_one_row_per_epoch(trained_2d, trained_3d, work, settings):
    job = trained_2d[0]
    curves = training_curves(job.fold_dir)
    assert list(curves.columns) == CURVE_COLUMNS and curves["epoch"].tolist() == [0]  # 1 epoch
    assert curves["learning_rate"].iloc[0] == pytest.approx(0.03)  # the poly schedule at epoch 0 = initial lr
    assert read_schedule(job.fold_dir).optimizer == "sgd" and read_schedule(trained_3d[0].fold_dir).optimizer == "adamw"
    assert np.isfinite(curves[["train_loss", "val_loss"]].to_numpy()).all() and curves["epoch_seconds"].iloc[0] > 0
    table = grid_curves(grid_jobs(settings, work))
    assert table[["dataset", "configuration", "fold", "epoch"]].values.tolist() == [
        ["chunks_native", "2d", 0, 0], ["stitched_straightened", "3d_fullres", 0, 0]]
    with pytest.raises(InputError, match="checkpoint not found"):
        training_curves(job.model_dir / "fold_1")


def test_submit_runs_a_job_through_a_submitit_executor(trained_3d):
    job, submitted, results, again = trained_3d
    assert len(submitted) == 1 and results == ["trained"]
    assert (job.fold_dir / "checkpoint_final.pth").is_file()
    assert again == []  # finished folds are not submitted


# --- prediction --------------------------------------------------------------------------------------------


def test_prediction_lies_on_the_input_grid(predicted_2d):
    image, out, first, _, _ = predicted_2d
    stem = split_extension(Path(image).name)[0]
    row = first.iloc[0]
    assert row["status"] == "predicted"
    assert row["labelmap"] == out / "labelmaps" / f"{stem}.nii.gz"
    assert row["cord"] == out / "masks" / f"{stem}_seg-pred.nii.gz"
    assert row["lesion"] == out / "masks" / f"{stem}_lesion-pred.nii.gz"
    source = nib.load(image)
    for kind in ("labelmap", "cord", "lesion"):
        written = nib.load(row[kind])
        assert written.shape == source.shape and written.get_data_dtype() == np.uint8
        np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)
    labels = _data(row["labelmap"])
    assert set(np.unique(labels).tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(_data(row["cord"]), (labels > 0).astype(np.uint8))
    np.testing.assert_array_equal(_data(row["lesion"]), (labels == 2).astype(np.uint8))


def test_prediction_rerun_keeps_the_outputs(predicted_2d):
    _, out, _, second, stamps = predicted_2d
    assert second["status"].tolist() == ["kept"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.nii.gz")} == stamps and len(stamps) == 3
    record = read_record(next(out.glob("labelmaps/*.nii.gz")))  # what made it: image, checkpoints, folds
    assert record["command"] == "predict" and record["parameters"] == {"folds": [0], "tile_batch": 1, "tile_step": 0.5}
    assert {"image", "fold 0", "plans", "dataset"} <= set(record["inputs"])


def test_prediction_does_not_depend_on_the_stored_orientation(predicted_2d, trained_2d, tmp_path):
    image, _, first, _, _ = predicted_2d
    data, affine = load_image(image)
    assert axcodes(affine) == ("L", "A", "S") and data.shape[0] != data.shape[2]
    copy, copy_affine = reorient(data, affine, ("P", "I", "R"))  # every axis flipped, then (A, S, L) -> first
    np.testing.assert_array_equal(copy, data[::-1, ::-1, ::-1].transpose(1, 2, 0))
    copy_path = tmp_path / "copy_T2w.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(copy), copy_affine), copy_path)
    row = predict_files(trained_2d[0].model_dir, [copy_path], tmp_path / "out", threads=2, progress=False).iloc[0]
    label = nib.load(row["labelmap"])
    assert label.shape == copy.shape
    np.testing.assert_allclose(label.affine, copy_affine, atol=1e-5)
    back, _ = reorient(np.asanyarray(label.dataobj), label.affine, axcodes(affine))
    np.testing.assert_array_equal(back, _data(first.iloc[0]["labelmap"]))


@pytest.mark.parametrize("model", ["2d", "3d_fullres"])
def test_tiles_in_batches_give_nnunets_logits_up_to_rounding(model, trained_2d, trained_3d):
    """``tile_batch`` 1 is nnU-Net's own sliding window bit for bit; tiles in batches change the (half precision)
    logits by rounding only."""
    import torch

    from sclesion.nnunet.predict import _batched_sliding_window

    job = trained_2d[0] if model == "2d" else trained_3d[0]
    predictor = load_model(job.model_dir, [0]).predictor
    predictor.network.eval()
    shape = (3, 50, 45) if model == "2d" else (20, 50, 45)
    data = torch.from_numpy(np.random.default_rng(0).normal(size=(1, *shape)).astype(np.float32))
    slicers = predictor._internal_get_sliding_window_slicers(data.shape[1:])
    assert len(slicers) > 4
    with torch.no_grad():
        theirs = predictor._internal_predict_sliding_window_return_logits(data, slicers, False)
        one = _batched_sliding_window(predictor, data, slicers, False, batch=1)
        batched = _batched_sliding_window(predictor, data, slicers, False, batch=4)
    assert torch.equal(one, theirs)
    torch.testing.assert_close(batched.float(), theirs.float(), rtol=0, atol=2e-2)
    assert not torch.equal(batched, torch.zeros_like(batched))


def test_a_batched_model_predicts_the_same_labels_and_records_its_tile_batch(predicted_2d, trained_2d, tmp_path):
    image, _, first, _, _ = predicted_2d
    row = predict_files(trained_2d[0].model_dir, [image], tmp_path, threads=2, tile_batch=5, progress=False).iloc[0]
    batched, single = _data(row["labelmap"]), _data(first.iloc[0]["labelmap"])
    assert (batched != single).mean() < 1e-3
    assert read_record(row["labelmap"])["parameters"] == {"folds": [0], "tile_batch": 5, "tile_step": 0.5}
    again = predict_files(trained_2d[0].model_dir, [image], tmp_path, threads=2, tile_batch=1, progress=False)
    assert again["status"].tolist() == ["predicted"]  # another tile batch: not the same outputs
    with pytest.raises(InputError, match="tile_batch must be at least 1"):
        load_model(trained_2d[0].model_dir, tile_batch=0)
    with pytest.raises(InputError, match=r"tile_step must lie in \(0, 1\]"):
        load_model(trained_2d[0].model_dir, tile_step=1.5)


def test_straightened_prediction_is_warped_back_to_the_native_grid(trained_3d, converted, tmp_path):
    job = trained_3d[0]
    cases = converted["stitched_straightened"]
    row = cases[cases["subset"] == "imagesTs_TUM"].iloc[0]
    table = predict_files(job.model_dir, [row["image"]], tmp_path, threads=2, inverse_fields=[row["inverse_field"]],
                          native_images=[row["native_reference"]], progress=False)
    out = table.iloc[0]
    native = nib.load(row["native_reference"])
    straight = nib.load(row["image"])
    assert straight.shape != native.shape  # the straight grid differs, so landing on the native one means something
    assert out["labelmap"].name == row["native_reference"].name  # named after the native image
    labels = nib.load(out["labelmap"])
    assert labels.shape == native.shape and labels.get_data_dtype() == np.uint8
    np.testing.assert_allclose(labels.affine, native.affine, atol=1e-5)
    values = np.asanyarray(labels.dataobj)
    assert set(np.unique(values).tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(_data(out["cord"]), (values > 0).astype(np.uint8))
    np.testing.assert_array_equal(_data(out["lesion"]), (values == 2).astype(np.uint8))


def test_prediction_inputs_are_checked(trained_2d, tmp_path):
    model_dir = trained_2d[0].model_dir
    with pytest.raises(InputError, match="one inverse field and one native image per image"):
        predict_files(model_dir, ["a.nii.gz", "b.nii.gz"], tmp_path, inverse_fields=["f.nii.gz"],
                      native_images=["n.nii.gz"], progress=False)
    with pytest.raises(InputError, match="checkpoint not found"):
        load_model(model_dir, folds=[1])
    with pytest.raises(InputError, match="not a trained nnU-Net model folder: no plans.json"):
        load_model(tmp_path)
    (tmp_path / "plans.json").write_text("{}")
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(InputError, match="is training finished"):
        load_model(tmp_path)


# --- sclesion segment and nnU-Net's own predictor on the same model -----------------------------------------


@pytest.fixture(scope="module")
def segmented_2d(predicted_2d, trained_2d, tmp_path_factory):
    """``sclesion segment`` on the image ``sclesion predict`` predicted, with the same model, run twice."""
    from sclesion.segment.run import segment

    image = predicted_2d[0]
    out = tmp_path_factory.mktemp("segment")
    first = segment([image], trained_2d[0].model_dir, out, qc=False, progress=False)
    stamps = _mtimes(out)
    second = segment([image], trained_2d[0].model_dir, out, qc=False, progress=False)
    return image, out, first, second, stamps


def test_segment_masks_equal_predicts_on_the_input_grid(segmented_2d, predicted_2d):
    image, out, first, _, _ = segmented_2d
    row, predicted = first.iloc[0], predicted_2d[2].iloc[0]
    assert row["status"] == "segmented"
    source = nib.load(image)
    for mask, reference in ((row["sc_seg"], predicted["cord"]), (row["lesion_seg"], predicted["lesion"])):
        img = nib.load(mask)
        assert img.shape == source.shape and img.get_data_dtype() == np.uint8
        np.testing.assert_allclose(img.affine, source.affine, atol=1e-6)
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), _data(reference))
    lesions = pd.read_csv(row["lesions_tsv"], sep="\t")
    assert len(lesions) == row["n_lesions"] and "volume_mm3" in lesions.columns
    assert lesions["volume_mm3"].sum() == pytest.approx(row["total_lesion_volume_mm3"], rel=1e-4)


def test_segment_sidecar_names_the_model_and_its_weights(segmented_2d, trained_2d):
    from sclesion.core.provenance import sha256
    from sclesion.nnunet.predict import weights_checksum

    _, out, first, _, _ = segmented_2d
    sidecar = json.loads(Path(str(first.iloc[0]["lesion_seg"]).replace(".nii.gz", ".json")).read_text())
    generated = sidecar["GeneratedBy"][0]
    model_dir = trained_2d[0].model_dir
    assert generated["Name"] == "sclesion" and generated["Device"] == "cpu"
    assert generated["Model"]["Folder"] == str(model_dir.resolve()) and generated["Model"]["Folds"] == [0]
    assert generated["Model"]["WeightsSHA256"] == weights_checksum(model_dir, [0]) == sidecar["Checksums"]["weights"]
    assert sidecar["Checksums"]["image"] == sha256(segmented_2d[0])


def test_segment_rerun_keeps_outputs_and_a_retrained_model_segments_again(segmented_2d, trained_2d, tmp_path):
    import torch

    from sclesion.segment.run import segment

    image, out, _, second, stamps = segmented_2d
    per_image = {p: t for p, t in stamps.items() if p.name != "segment_summary.tsv"}  # the run's table is rewritten
    outputs = [p for p in per_image if not p.name.startswith(".")]  # beside each, its hidden provenance record
    assert second["status"].tolist() == ["kept"] and len(outputs) == 5 and len(per_image) == 10
    assert {p: t for p, t in _mtimes(out).items() if p in per_image} == per_image
    model = tmp_path / trained_2d[0].model_dir.name
    shutil.copytree(trained_2d[0].model_dir, model)
    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    first_weight = next(iter(saved["network_weights"]))
    saved["network_weights"][first_weight] = saved["network_weights"][first_weight] * 1.01
    torch.save(saved, checkpoint)
    shutil.copytree(out, tmp_path / "out")
    again = segment([image], model, tmp_path / "out", qc=False, progress=False)
    assert again["status"].tolist() == ["segmented"]  # same image, other weights: never the stale masks


def test_segment_reports_a_bad_image_in_one_line_and_goes_on_in_parallel(segmented_2d, trained_2d, tmp_path, capsys):
    from sclesion.cli.main import main

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(segmented_2d[0], folder / "good_T2w.nii.gz")
    (folder / "broken_T2w.nii.gz").write_bytes(b"not a nifti")
    status = main(["segment", "-i", str(folder), "-m", str(trained_2d[0].model_dir), "-o", str(tmp_path / "out"),
                   "--no-qc", "--jobs", "2"])  # two worker processes, one image each
    captured = capsys.readouterr()
    assert status == 1
    assert "broken_T2w.nii.gz: failed: cannot read as NIfTI" in captured.out
    assert "good_T2w.nii.gz: segmented" in captured.out and "Traceback" not in captured.out + captured.err
    assert (tmp_path / "out" / "good_T2w_lesion_seg.nii.gz").is_file()
    assert not (tmp_path / "out" / "broken_T2w_lesion_seg.nii.gz").exists()
    summary = pd.read_csv(tmp_path / "out" / "segment_summary.tsv", sep="\t")
    assert summary["status"].str.startswith("failed").tolist() == [True, False]


def test_nnunets_own_predictor_loads_the_model_and_agrees_with_segment(segmented_2d, converted, trained_2d, tmp_path):
    """``nnUNetv2_predict`` (nnU-Net's command, with its environment variables) finds the trainer the
    checkpoint names and predicts the same labels as ``sclesion segment`` on the same image."""
    import os
    import subprocess

    from sclesion.nnunet.predict import nnunet_predict_command

    image = segmented_2d[0]
    cases = converted["chunks_native"]
    assert axcodes(nib.load(image).affine) == ("L", "A", "S")  # stored RPI: nnU-Net reads files as they are
    case = cases.loc[cases["image"] == image, "case_id"].iloc[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(image, inputs / f"{case}_0000.nii.gz")
    command, environ = nnunet_predict_command(trained_2d[0].model_dir, inputs, tmp_path / "out", folds=[0])
    assert Path(command[0]).name == "nnUNetv2_predict" and "--disable_tta" in command
    done = subprocess.run(command, env={**os.environ, **environ, "OMP_NUM_THREADS": "2"}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    theirs = _data(tmp_path / "out" / f"{case}.nii.gz")
    row = segmented_2d[2].iloc[0]
    np.testing.assert_array_equal(_data(row["sc_seg"]), (theirs > 0).astype(np.uint8))
    np.testing.assert_array_equal(_data(row["lesion_seg"]), (theirs == 2).astype(np.uint8))


def test_progress_png_is_redrawn_at_most_once_a_minute_and_after_the_last_epoch(monkeypatch):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from sclesion.nnunet import trainer as module

    drawn = []

    class Logger:
        def plot_progress_png(self, folder):
            drawn.append(fold.current_epoch)

    def nnunet_epoch_end(self):  # what matters of nnU-Net's: it draws, then counts the epoch
        self.logger.plot_progress_png("fold_0")
        self.current_epoch += 1

    monkeypatch.setattr(nnUNetTrainer, "on_epoch_end", nnunet_epoch_end)
    clock = iter([0.0, 10.0, 70.0, 80.0, 90.0])  # seconds at the end of epochs 0-4
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    cls = module.trainer_class(Schedule(TRAINER, 5, 2, 1))
    fold = SimpleNamespace(current_epoch=0, num_epochs=5, logger=Logger())
    for _ in range(5):
        cls.on_epoch_end(fold)
    assert drawn == [0, 2, 4] and fold.current_epoch == 5
    assert "plot_progress_png" not in vars(fold.logger)  # the logger draws again after a skipped epoch
