"""Units of sclesion.nnunet that need no nnU-Net run: settings, trainer names, plans dicts, labels, folds."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sclesion.core.errors import InputError
from sclesion.nnunet.convert import CASE_COLUMNS, CASES_TSV, case_id, dataset_json, region_label_map
from sclesion.nnunet.datasets import DATASETS, NnunetFolders, dataset_spec
from sclesion.nnunet.environment import nnunet_environ
from sclesion.nnunet.plans import (
    FULL_SI, TABLE_A1_COLUMNS, beside_paper, full_si_patch, plans_row, plans_table,
    resolve_configuration, small_network, superior_inferior_axis, with_full_si,
)
from sclesion.data.paper import table_a1 as paper_table_a1
from sclesion.nnunet.settings import DEFAULT_PLANS, NnunetSettings, SlurmSettings, settings_from_profile
from sclesion.nnunet.trainer import (RECORD_NAME, LesionOversampledCases, PolyLR, Schedule, read_schedule,
                                     write_record)
from sclesion.nnunet.jobs import TrainJob, ensure_splits, subject_folds
from sclesion.core.profile import Profile, profile_path
from sclesion.core.yamlfile import read_mapping

BASE = "nnUNetTrainerDiceCELoss_noSmooth"


# --- settings ------------------------------------------------------------------------------------------------


def test_paper_profile_gives_the_papers_settings():
    settings = Profile.load("paper").nnunet
    assert settings.grid == {
        "chunks_native": ("2d", "3d_fullres"),
        "stitched_native": ("2d", "3d_fullres", "3d_fullres_fullSI"),
        "chunks_straightened": ("2d", "3d_fullres"),
        "stitched_straightened": ("2d", "3d_fullres"),
        "chunks_two_sites": ("2d",),
    }
    assert settings.folds == (0, 1, 2) and settings.n_folds == 3
    assert (settings.trainer, settings.epochs, settings.iterations_per_epoch, settings.val_iterations_per_epoch) == (
        BASE, 1000, 250, 50)
    assert (settings.oversample_foreground, settings.learning_rate, settings.lesion_oversample) == (0.33, 0.01, 0.0)
    assert settings.optimizer == "sgd"
    assert settings.plans == DEFAULT_PLANS and settings.small_network is None
    assert (settings.device, settings.executor, settings.validate) == ("cuda", "slurm", True)
    assert settings.slurm == SlurmSettings(partition="gpu", gpus=1, cpus=16, mem_gb=64, time_min=2880)
    assert settings.configurations == ("2d", "3d_fullres", "3d_fullres_fullSI")


def test_smoke_profile_gives_a_tiny_network_and_a_two_fold_split():
    settings = Profile.load("smoke").nnunet
    assert settings.grid == {"chunks_native": ("2d",), "stitched_straightened": ("3d_fullres",)}
    assert settings.folds == (0,) and settings.n_folds == 2
    assert (settings.epochs, settings.iterations_per_epoch, settings.val_iterations_per_epoch) == (1, 2, 1)
    assert settings.small_network == {
        "plans_name": "nnUNetPlansTiny", "base_features": 4, "max_features": 16, "max_stages": 3,
        "batch_size": {"2d": 2, "3d_fullres": 1, "3d_fullres_fullSI": 1},
        "max_patch": {"2d": [32, 32], "3d_fullres": [8, 32, 32], "3d_fullres_fullSI": [1000, 32, 32]},
    }
    assert (settings.device, settings.threads, settings.n_proc, settings.n_proc_da) == ("cpu", 1, 1, 0)
    assert settings.configurations == ("2d", "3d_fullres")
    assert settings.slurm == SlurmSettings()  # no nnunet_slurm_* keys: the defaults


def test_demo_profile_maps_every_nnunet_key_onto_a_setting():
    profile = _keys("demo")
    settings = Profile.load("demo").nnunet
    assert list(settings.grid) == list(DATASETS)  # all five datasets, in the table's order
    assert settings.folds == (0,) and settings.device == "cpu" and settings.executor == "local"
    assert settings.configurations == ("2d", "3d_fullres")
    for key, value in profile.items():
        name = key.removeprefix("nnunet_")
        if key.startswith("nnunet_slurm_"):
            assert getattr(settings.slurm, name.removeprefix("slurm_")) == value, key
        elif key.startswith("nnunet_") and name not in ("grid", "folds"):
            assert getattr(settings, name) == (tuple(value) if isinstance(value, list) else value), key
    small = settings.small_network
    assert small is not None and small["plans_name"] == profile["nnunet_plans"] != DEFAULT_PLANS


def _keys(name):
    """The profile's keys as written in its YAML file."""
    return read_mapping(profile_path(name))


def _profile(**changes):
    profile = _keys("smoke")
    profile.update(changes)
    return profile


@pytest.mark.parametrize("changes, message", [
    ({"nnunet_epoch": 3}, "unknown profile key.*nnunet_epoch"),
    ({"nnunet_slurm_gpu": 2}, "unknown profile key.*nnunet_slurm_gpu"),
    ({"nnunet_folds": [0, 2]}, r"nnunet_folds \[0, 2\] must lie in 0..1"),
    ({"nnunet_folds": [-1]}, "must lie in 0..1"),
    ({"nnunet_grid": {"chunks_curved": ["2d"]}}, "unknown nnU-Net dataset 'chunks_curved'"),
    ({"nnunet_grid": {"chunks_native": ["3d_lowres"]}}, r"unknown configuration\(s\) \['3d_lowres'\]"),
    ({"nnunet_grid": {"chunks_native": "2d"}}, r"chunks_native must list its configurations.*got '2d'"),
    ({"nnunet_base_features": None}, "is a small network"),
    ({"nnunet_lesion_oversample": 1.5}, r"nnunet_lesion_oversample must lie in \[0, 1\]"),
    ({"nnunet_lesion_oversample": {"3d_fullres": -0.1}}, r"nnunet_lesion_oversample must lie in \[0, 1\]"),
    ({"nnunet_lesion_oversample": {"3d": 0.5}}, r"nnunet_lesion_oversample: unknown configuration"),
    ({"nnunet_epochs": {"2d": 3}},
     r"nnunet_epochs must be a whole number >= 1, or give one for each configuration.*3d_fullres"),
    ({"nnunet_epochs": {"2d": 0, "3d_fullres": 2}}, r"nnunet_epochs must be a whole number >= 1"),
    ({"nnunet_parallel_jobs": 0}, r"nnunet_parallel_jobs must be at least 1, got 0"),
    ({"nnunet_tile_batch": 0}, r"nnunet_tile_batch must be at least 1, got 0"),
    ({"nnunet_optimizer": "adam"}, r"nnunet_optimizer must be one of \['sgd', 'adamw'\].*got 'adam'"),
    ({"nnunet_optimizer": {"2d": "sgd"}}, r"nnunet_optimizer must be .*each configuration.*3d_fullres"),
    ({"nnunet_learning_rate": {"2d": 0.03, "3d_fullres": 0}}, r"nnunet_learning_rate must be a number > 0"),
    ({"nnunet_tile_step": 0}, r"nnunet_tile_step must lie in \(0, 1\], got 0"),
    ({"nnunet_unseen_site_models": ["chunks_native 3d_fullres"]}, r"nnunet_unseen_site_models: .* not in nnunet_grid"),
    ({"nnunet_unseen_site_models": "chunks_native 2d"}, r"nnunet_unseen_site_models must be list or null"),
])
def test_bad_profiles_are_refused_with_one_clear_error(changes, message):
    with pytest.raises(InputError, match=message):
        settings_from_profile(_profile(**changes))


def test_small_plans_name_without_sizes_and_profile_without_grid_are_refused():
    profile = _keys("paper")
    profile["nnunet_plans"] = "nnUNetPlansCPU"
    with pytest.raises(InputError, match="nnunet_base_features, nnunet_max_features"):
        settings_from_profile(profile)
    del profile["nnunet_grid"]
    with pytest.raises(InputError, match="has no nnunet_grid"):
        settings_from_profile(profile)


def test_grid_accepts_dataset_ids_and_names():
    settings = settings_from_profile(_profile(nnunet_grid={"901": ["2d"], "Dataset904_StitchedStraight": ["2d"]}))
    assert list(settings.grid) == ["chunks_native", "stitched_straightened"]


def test_dataset_lookup_by_key_id_and_name():
    spec = DATASETS["chunks_two_sites"]
    assert dataset_spec("chunks_two_sites") is dataset_spec(910) is dataset_spec("910") is spec
    assert spec.name == "Dataset910_ChunksTwoSites" and dataset_spec(spec.name) is spec
    assert spec.variant == "chunks_native" and spec.train_sites == ("TUM", "NYU") and not spec.straightened
    assert dataset_spec(903).straightened and dataset_spec(904).straightened and not dataset_spec(902).straightened
    with pytest.raises(InputError, match="unknown nnU-Net dataset"):
        dataset_spec(905)


def test_nnunet_environ_points_into_the_work_dir(tmp_path):
    env = nnunet_environ(tmp_path, threads=3, n_proc=2, n_proc_da=0)
    base = (tmp_path / "nnunet").resolve()
    assert env == {
        "nnUNet_raw": str(base / "raw"), "nnUNet_preprocessed": str(base / "preprocessed"),
        "nnUNet_results": str(base / "results"), "nnUNet_def_n_proc": "2", "nnUNet_n_proc_DA": "0",
        "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
    }


# --- trainer -----------------------------------------------------------------------------------------------


def test_train_job_saves_under_nnunets_trainer_name_and_records_its_schedule(tmp_path):
    settings = Profile.load("smoke").nnunet
    job = TrainJob.from_settings(settings, tmp_path, "901", "2d", 0)
    assert job.dataset == "chunks_native" and job.label == "chunks_native 2d fold 0"
    assert job.schedule == Schedule(BASE, 1, 2, 1, 0.8, 0.03)
    assert job.model_dir == (tmp_path.resolve() / "nnunet" / "results" / "Dataset901_ChunksNative"
                             / f"{BASE}__nnUNetPlansTiny__2d")
    assert job.fold_dir == job.model_dir / "fold_0" and not job.done
    job.fold_dir.mkdir(parents=True)
    (job.fold_dir / "checkpoint_final.pth").write_bytes(b"")
    assert not job.done  # a checkpoint without a record: trained by something else, or interrupted
    write_record(job.fold_dir, job.schedule, seed=1)
    assert read_schedule(job.fold_dir) == job.schedule and job.done
    longer = TrainJob.from_settings(replace(settings, epochs=2), tmp_path, "901", "2d", 0)
    assert longer.model_dir == job.model_dir and not longer.done  # same folder, other schedule: not this model


def test_lesion_oversampling_is_set_per_configuration(tmp_path):
    settings = settings_from_profile(_profile(nnunet_lesion_oversample={"3d_fullres": 0.8}))
    assert settings.lesion_share("3d_fullres") == 0.8 and settings.lesion_share("2d") == 0.0
    assert TrainJob.from_settings(settings, tmp_path, "901", "3d_fullres", 0).schedule.lesion_oversample == 0.8
    assert TrainJob.from_settings(settings, tmp_path, "901", "2d", 0).schedule.lesion_oversample == 0.0
    assert settings_from_profile(_profile(nnunet_lesion_oversample=0.5)).lesion_share("2d") == 0.5


def test_epochs_are_set_per_configuration(tmp_path):
    settings = settings_from_profile(_profile(nnunet_epochs={"2d": 3, "3d_fullres": 5}))
    assert (settings.epochs_of("2d"), settings.epochs_of("3d_fullres")) == (3, 5)
    assert TrainJob.from_settings(settings, tmp_path, "901", "2d", 0).schedule.epochs == 3
    assert TrainJob.from_settings(settings, tmp_path, "904", "3d_fullres", 0).schedule.epochs == 5
    assert settings_from_profile(_profile(nnunet_epochs=4)).epochs_of("3d_fullres") == 4


def test_optimizer_and_learning_rate_are_set_per_configuration(tmp_path):
    settings = settings_from_profile(_profile(nnunet_optimizer={"2d": "sgd", "3d_fullres": "adamw"},
                                              nnunet_learning_rate={"2d": 0.03, "3d_fullres": 0.003}))
    two_d = TrainJob.from_settings(settings, tmp_path, "901", "2d", 0).schedule
    three_d = TrainJob.from_settings(settings, tmp_path, "901", "3d_fullres", 0).schedule
    assert (two_d.optimizer, two_d.learning_rate) == ("sgd", 0.03)
    assert (three_d.optimizer, three_d.learning_rate) == ("adamw", 0.003)
    single = settings_from_profile(_profile(nnunet_optimizer="adamw", nnunet_learning_rate=0.002))
    assert (single.optimizer_of("2d"), single.learning_rate_of("3d_fullres")) == ("adamw", 0.002)


def test_unseen_sites_are_predicted_by_the_listed_models_only():
    listed = settings_from_profile(_profile(nnunet_unseen_site_models=["chunks_native 2d"]))
    assert listed.predicts("chunks_native", "2d", "BWH") and listed.predicts("chunks_native", "2d", "TUM")
    assert listed.predicts("stitched_straightened", "3d_fullres", "TUM")
    assert not listed.predicts("stitched_straightened", "3d_fullres", "UCSF")
    every = settings_from_profile(_profile(nnunet_unseen_site_models=None))
    assert every.predicts("stitched_straightened", "3d_fullres", "UCSF")


def test_local_jobs_side_by_side_keep_their_order_and_a_failure_is_raised_after_the_others(monkeypatch):
    import time

    from sclesion.nnunet import runner
    from sclesion.nnunet.environment import NnunetStepError

    running, most = set(), []

    def fake_run_job(job):
        running.add(job.label)
        most.append(len(running))
        time.sleep(0.05 * (3 - int(job.label[-1])))  # the first job ends last
        running.discard(job.label)
        if job.label == "job 1":
            raise NnunetStepError("job 1 failed")
        return "trained"

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    jobs = [SimpleNamespace(label=f"job {i}", configuration="3d_fullres") for i in range(3)]
    table = runner.run_local([jobs[0], jobs[2]], progress=False, parallel=2)
    assert table["job"].tolist() == ["job 0", "job 2"] and set(table["status"]) == {"trained"}
    assert max(most) == 2  # both ran at once
    most.clear()
    with pytest.raises(NnunetStepError, match="job 1 failed"):
        runner.run_local(jobs, progress=False, parallel=2)
    assert not running  # every started job ended before the error reached the caller
    assert runner.run_local(jobs[:1], progress=False)["job"].tolist() == ["job 0"]


def test_side_by_side_the_3d_jobs_start_first(monkeypatch):
    from sclesion.nnunet import runner

    started = []
    monkeypatch.setattr(runner, "run_job", lambda job: started.append(job.label) or "trained")
    jobs = [SimpleNamespace(label=f"job {i}", configuration=c) for i, c in enumerate(["2d", "2d", "3d_fullres"])]
    runner.run_local(jobs, progress=False, parallel=2)
    assert "job 2" in started[:2] and started[2] == "job 1"  # the 3d job among the first two, the last 2d job last
    started.clear()
    runner.run_local(jobs, progress=False)  # one at a time: the grid's order
    assert started == ["job 0", "job 1", "job 2"]


def test_a_broken_record_reads_as_no_record(tmp_path):
    (tmp_path / RECORD_NAME).write_text("{not json")
    assert read_schedule(tmp_path) is None
    (tmp_path / RECORD_NAME).write_text('{"schedule": {"trainer": "x", "bogus": 1}}')
    assert read_schedule(tmp_path) is None


def test_a_record_without_optimizer_reads_as_sgd_and_matches_an_sgd_schedule(tmp_path):
    old = {"trainer": BASE, "epochs": 4, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1,
           "oversample_foreground": 0.8, "learning_rate": 0.03, "lesion_oversample": 0.0}
    (tmp_path / RECORD_NAME).write_text(json.dumps({"schedule": old}))
    assert read_schedule(tmp_path) == Schedule(**old, optimizer="sgd")
    assert read_schedule(tmp_path) != Schedule(**old, optimizer="adamw")


def test_poly_lr_decays_every_parameter_group():
    optimizer = SimpleNamespace(param_groups=[{"lr": 1.0}, {"lr": 1.0}])
    schedule = PolyLR(optimizer, initial_lr=0.01, num_epochs=10)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.01]  # set at construction (epoch 0)
    schedule.step(5)  # 0.01 * 0.5 ** 0.9 = 0.01 * exp(0.9 ln 0.5) = 0.0053589
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0053589, abs=1e-7)
    assert optimizer.param_groups[1]["lr"] == optimizer.param_groups[0]["lr"]
    schedule.step(9)  # 0.01 * 0.1 ** 0.9 = 0.0012589
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0012589, abs=1e-7)
    schedule.step(10)
    assert optimizer.param_groups[0]["lr"] == 0.0


class _Cases:
    """Stand-in for nnU-Net's dataset: case -> class_locations of the cord region (1, 2) and lesion region 2."""

    def __init__(self):
        cord = np.array([[0, 1, 1, 1]])
        self.locations = {"a": {(1, 2): cord, 2: np.zeros((0, 4))}, "b": {(1, 2): cord, 2: np.array([[0, 2, 3, 4]])},
                          "c": {(1, 2): cord, 2: np.zeros((0, 4))}}

    def keys(self):
        return self.locations.keys()

    def __len__(self):
        return len(self.locations)

    def load_case(self, key):
        return key, None, {"class_locations": self.locations[key], "spacing": [1, 1, 1]}


def test_lesion_oversampling_draws_lesion_cases_centred_on_their_lesions():
    cases = _Cases()
    never = LesionOversampledCases(cases, 2, 0.0)
    assert never.lesion_cases == ["b"] and list(never.keys()) == ["a", "b", "c"] and len(never) == 3
    assert [never.load_case(k)[0] for k in "abc"] == ["a", "b", "c"]  # share 0: nnU-Net's draws unchanged
    always = LesionOversampledCases(cases, 2, 1.0)
    data, _, properties = always.load_case("a")
    assert data == "b" and list(properties["class_locations"]) == [2]  # only the lesion region left to centre on
    assert properties["spacing"] == [1, 1, 1] and list(cases.locations["b"]) == [(1, 2), 2]  # the case is unchanged
    np.random.seed(0)
    half = LesionOversampledCases(cases, 2, 0.5)
    drawn = [half.load_case("a")[0] for _ in range(2000)]
    assert 0.45 < drawn.count("b") / len(drawn) < 0.55
    assert LesionOversampledCases(cases, 3, 1.0).load_case("c")[0] == "c"  # no such region


# --- plans -------------------------------------------------------------------------------------------------


def _config(patch, spacing, strides, kernels, features, batch, identifier):
    n = len(strides)
    return {
        "data_identifier": identifier, "batch_size": batch, "patch_size": list(patch), "spacing": list(spacing),
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": n, "features_per_stage": list(features), "kernel_sizes": [list(k) for k in kernels],
                "strides": [list(s) for s in strides], "n_conv_per_stage": [2] * n,
                "n_conv_per_stage_decoder": [2] * (n - 1),
            },
        },
    }


def _paper_chunks_native() -> dict:
    """Plans with the values of Table A1, chunks native (spacings as float32 values read back, as nnU-Net stores)."""
    in_plane = 0.3400000035762787
    return {
        "plans_name": "nnUNetPlans", "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2],
        "configurations": {
            "2d": _config((384, 384), (in_plane, in_plane), [(1, 1)] + [(2, 2)] * 6, [(3, 3)] * 7,
                          (32, 64, 128, 256, 512, 512, 512), 22, "nnUNetPlans_2d"),
            "3d_fullres": _config(
                (24, 256, 256), (5.0, in_plane, in_plane),
                [(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)],
                [(1, 3, 3)] * 3 + [(3, 3, 3)] * 4, (32, 64, 128, 256, 320, 320, 320), 14, "nnUNetPlans_3d_fullres"),
        },
    }


def test_plans_rows_reproduce_table_a1_for_chunks_native():
    paper = paper_table_a1().set_index(["variant", "configuration"])
    plans = _paper_chunks_native()
    row_2d = plans_row(plans, "2d", "chunks_native")
    assert {k: str(v) for k, v in row_2d.items()} == {
        "variant": "chunks_native", "configuration": "2d", **paper.loc[("chunks_native", "2d")].to_dict()}
    row_3d = plans_row(plans, "3d_fullres", "chunks_native")
    expected = paper.loc[("chunks_native", "3d_fullres")]
    for column in TABLE_A1_COLUMNS[2:]:
        if column == "spacing":  # the paper prints "(5.0, ...)" here and "(5, ...)" in the other rows
            assert row_3d[column] == "(5, 0.34, 0.34)"
            assert [float(v) for v in expected[column].strip("()").split(",")] == [5.0, 0.34, 0.34]
        else:
            assert str(row_3d[column]) == expected[column], column
    assert row_3d["kernel_sizes"] == "(1,3,3)x3,(3,3,3)x4" and row_3d["n_stages"] == 7


def test_plans_row_reproduces_the_stitched_native_3d_row_exactly():
    plans = {"configurations": {"3d_fullres": _config(
        (48, 224, 160), (5.0, 0.34, 0.34),
        [(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 1, 1)],
        [(1, 3, 3)] * 3 + [(3, 3, 3)] * 4, (32, 64, 128, 256, 320, 320, 320), 2, "nnUNetPlans_3d_fullres")}}
    ours = plans_table(plans, "stitched_native").astype(str)
    paper = paper_table_a1()
    expected = paper[(paper["variant"] == "stitched_native") & (paper["configuration"] == "3d_fullres")]
    pd.testing.assert_frame_equal(ours, expected.reset_index(drop=True))


def test_beside_paper_pairs_every_field_with_the_papers_value():
    ours = pd.concat([plans_table(_paper_chunks_native(), "chunks_native"),
                      plans_table(_paper_chunks_native(), "chunks_two_sites", ("2d",))], ignore_index=True)
    table = beside_paper(ours)
    fields = TABLE_A1_COLUMNS[2:]
    assert list(table.columns) == ["variant", "configuration"] + [x for f in fields for x in (f, f"{f}_paper")]
    assert len(table) == 3
    first = table.iloc[0]
    assert (first["configuration"], first["batch_size"], first["batch_size_paper"]) == ("2d", "22", "22")
    assert all(first[f] == first[f"{f}_paper"] for f in fields)
    assert table.iloc[1]["spacing_paper"] == "(5.0, 0.34, 0.34)"
    two_sites = table.iloc[2]  # not in Table A1: empty paper columns
    assert two_sites["variant"] == "chunks_two_sites" and all(two_sites[f"{f}_paper"] == "" for f in fields)


def test_resolve_configuration_applies_the_inheritance_chain_without_touching_the_plans():
    plans = _paper_chunks_native()
    plans["configurations"]["wide"] = {"inherits_from": "3d_fullres", "patch_size": [48, 256, 256]}
    plans["configurations"]["wide_b1"] = {"inherits_from": "wide", "batch_size": 1}
    before = json.dumps(plans, sort_keys=True)
    resolved = resolve_configuration(plans, "wide_b1")
    assert "inherits_from" not in resolved
    assert resolved["batch_size"] == 1 and resolved["patch_size"] == [48, 256, 256]
    assert resolved["data_identifier"] == "nnUNetPlans_3d_fullres" and resolved["spacing"][0] == 5.0
    resolved["architecture"]["arch_kwargs"]["n_stages"] = 99
    assert json.dumps(plans, sort_keys=True) == before


def test_resolve_configuration_refuses_cycles_and_missing_parents():
    plans = {"plans_name": "p", "configurations": {"a": {"inherits_from": "b"}, "b": {"inherits_from": "a"},
                                                   "c": {"inherits_from": "gone"}}}
    with pytest.raises(InputError, match="circular inherits_from chain a -> b -> a"):
        resolve_configuration(plans, "a")
    with pytest.raises(InputError, match="configuration 'gone' not in plans 'p'"):
        resolve_configuration(plans, "c")


def _small_machine_plans(reader="SimpleITKIO", transpose=(0, 1, 2)) -> dict:
    """3d_fullres of 4 stages, S-I strides 1, 1, 2, 2 (product 4), patch (20, 48, 40) at (5.0, 1.6, 1.6) mm."""
    return {
        "plans_name": "nnUNetPlans", "image_reader_writer": reader, "transpose_forward": list(transpose),
        "configurations": {
            "2d": _config((48, 48), (1.6, 1.6), [(1, 1), (2, 2), (2, 2), (2, 2)], [(3, 3)] * 4,
                          (32, 64, 128, 256), 16, "nnUNetPlans_2d"),
            "3d_fullres": _config((20, 48, 40), (5.0, 1.6, 1.6), [(1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2)],
                                  [(1, 3, 3)] * 2 + [(3, 3, 3)] * 2, (32, 64, 128, 256), 2, "nnUNetPlans_3d_fullres"),
        },
    }


#: Three cases, S-I extents 40 x 5.0 = 200 mm, 37 x 5.0 = 185 mm, 103 x 4.99 = 513.97 mm (reader order S-I first).
_FINGERPRINT = {"shapes_after_crop": [[40, 35, 35], [37, 35, 35], [103, 44, 38]],
                "spacings": [[5.0, 1.6, 1.6], [5.0, 1.6, 1.6], [4.99, 1.6, 1.6]]}


def test_full_si_patch_covers_the_longest_case_and_stays_divisible():
    # 513.97 mm / 5.0 mm = 102.8 -> 103 voxels -> next multiple of the S-I strides' product 1*1*2*2 = 4: 104
    patch = full_si_patch(_small_machine_plans(), _FINGERPRINT)
    assert patch == [104, 48, 40]
    assert patch[0] * 5.0 >= 513.97 and patch[0] % 4 == 0


def test_full_si_patch_finds_the_si_axis_of_a_nibabel_reader_with_transposed_axes():
    # NibabelIO arrays are RPI (S-I last); transpose_forward (2, 0, 1) puts it first in the plans
    fingerprint = {"shapes_after_crop": [s[::-1] for s in _FINGERPRINT["shapes_after_crop"]],
                   "spacings": [s[::-1] for s in _FINGERPRINT["spacings"]]}
    plans = _small_machine_plans("NibabelIO", (2, 0, 1))
    assert superior_inferior_axis(plans) == 0
    assert full_si_patch(plans, fingerprint) == [104, 48, 40]
    with pytest.raises(InputError, match="unknown image reader"):
        superior_inferior_axis(_small_machine_plans("TiffIO"))


def test_full_si_patch_of_an_exact_extent_is_not_rounded_up_and_never_shrinks():
    exact = {"shapes_after_crop": [[100, 35, 35]], "spacings": [[5.0, 1.6, 1.6]]}  # 500 mm = 100 voxels, 100 % 4 = 0
    assert full_si_patch(_small_machine_plans(), exact) == [100, 48, 40]
    short = {"shapes_after_crop": [[10, 35, 35]], "spacings": [[5.0, 1.6, 1.6]]}  # 50 mm < the patch's 20 voxels
    assert full_si_patch(_small_machine_plans(), short) == [20, 48, 40]


def test_with_full_si_adds_an_inheriting_configuration_to_a_copy():
    plans = _small_machine_plans()
    before = json.dumps(plans, sort_keys=True)
    full = with_full_si(plans, _FINGERPRINT)
    assert json.dumps(plans, sort_keys=True) == before and FULL_SI not in plans["configurations"]
    assert full["configurations"][FULL_SI] == {"inherits_from": "3d_fullres", "patch_size": [104, 48, 40]}
    resolved = resolve_configuration(full, FULL_SI)
    assert resolved["data_identifier"] == "nnUNetPlans_3d_fullres"  # reuses the parent's preprocessed data
    assert resolved["spacing"] == [5.0, 1.6, 1.6] and resolved["batch_size"] == 2


def test_small_network_cuts_stages_caps_features_and_patches():
    plans = with_full_si(_small_machine_plans(), _FINGERPRINT)
    before = json.dumps(plans, sort_keys=True)
    small = small_network(plans, "nnUNetPlansTiny", base_features=8, max_features=16, max_stages=3,
                          batch_size={"2d": 2, "3d_fullres": 1}, max_patch={"2d": [30, 64], "3d_fullres": [9, 30, 32]})
    assert json.dumps(plans, sort_keys=True) == before
    assert small["plans_name"] == "nnUNetPlansTiny"
    arch_2d = small["configurations"]["2d"]["architecture"]["arch_kwargs"]
    arch_3d = small["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    for arch in (arch_2d, arch_3d):
        assert arch["n_stages"] == 3
        assert arch["features_per_stage"] == [8, 16, 16]  # 8, 16, 32 capped at 16
        assert len(arch["kernel_sizes"]) == len(arch["n_conv_per_stage"]) == 3
        assert len(arch["n_conv_per_stage_decoder"]) == 2
    assert arch_3d["strides"] == [[1, 1, 1], [1, 2, 2], [2, 2, 2]]
    assert arch_3d["kernel_sizes"] == [[1, 3, 3], [1, 3, 3], [3, 3, 3]]
    # strides' products of the 3 stages left: 2d (4, 4); 3d (2, 4, 4)
    assert small["configurations"]["2d"]["patch_size"] == [28, 48]  # 48 > 30 -> 4 * (30 // 4); 48 <= 64 kept
    assert small["configurations"]["3d_fullres"]["patch_size"] == [8, 28, 32]  # 2*(9//2), 4*(30//4), 4*(32//4)
    assert small["configurations"]["2d"]["batch_size"] == 2 and small["configurations"]["3d_fullres"]["batch_size"] == 1
    for name in ("2d", "3d_fullres"):
        assert small["configurations"][name]["data_identifier"] == plans["configurations"][name]["data_identifier"]
    assert small["configurations"][FULL_SI] == plans["configurations"][FULL_SI]  # not named: untouched
    resolved = resolve_configuration(small, FULL_SI)
    assert resolved["patch_size"] == [104, 48, 40] and resolved["architecture"]["arch_kwargs"]["n_stages"] == 3


def test_small_network_keeps_fewer_stages_and_sets_a_named_inheriting_batch():
    plans = with_full_si(_small_machine_plans(), _FINGERPRINT)
    small = small_network(plans, "p", base_features=4, max_features=320, max_stages=6, batch_size={FULL_SI: 1})
    arch = small["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    assert arch["n_stages"] == 4 and arch["features_per_stage"] == [4, 8, 16, 32]
    assert small["configurations"]["3d_fullres"]["patch_size"] == [20, 48, 40]  # no max_patch: unchanged
    assert small["configurations"][FULL_SI] == {"inherits_from": "3d_fullres", "patch_size": [104, 48, 40],
                                                "batch_size": 1}


@pytest.mark.parametrize("sizes", [dict(base_features=4, max_features=16, max_stages=1),
                                   dict(base_features=32, max_features=16, max_stages=3),
                                   dict(base_features=0, max_features=16, max_stages=3)])
def test_small_network_refuses_impossible_sizes(sizes):
    with pytest.raises(InputError, match="max_stages >= 2"):
        small_network(_small_machine_plans(), "p", batch_size={}, **sizes)


# --- labels and case ids -----------------------------------------------------------------------------------


def test_region_label_map_puts_lesion_over_cord():
    cord = np.array([0, 1, 1, 0, 0.6, 0.4, 0.5, 0.0, 0.2], dtype=np.float32)
    lesion = np.array([0, 0, 1, 1, 0.0, 0.3, 0.0, 0.5, 0.6], dtype=np.float32)
    labels = region_label_map(cord, lesion)
    # 1: cord; 2: lesion inside cord; 3: lesion outside the cord mask (still lesion, so cord region too);
    # 4: soft cord 0.6; 5: 0.4 + 0.3 > 0.5 is cord, lesion 0.3 is not; 6, 7: 0.5 is not > 0.5; 8: lesion 0.6
    assert labels.tolist() == [0, 1, 2, 2, 1, 1, 0, 0, 2]
    assert labels.dtype == np.uint8
    cord_region = labels >= 1
    assert cord_region[3] and cord_region[8]  # every lesion voxel belongs to the cord region


def test_region_label_map_keeps_the_shape_and_accepts_binary_uint8():
    cord = np.zeros((3, 4, 5), dtype=np.uint8)
    lesion = np.zeros_like(cord)
    cord[1, 1:3, 2] = 1
    lesion[1, 2, 2] = 1
    labels = region_label_map(cord, lesion)
    assert labels.shape == (3, 4, 5)
    assert labels[1, 1, 2] == 1 and labels[1, 2, 2] == 2 and labels.sum() == 3


def test_case_id_drops_the_suffix_and_extension():
    assert case_id("/x/sub-tum001_ses-20200101_acq-ax_chunk-1_T2w.nii.gz") == "sub-tum001_ses-20200101_acq-ax_chunk-1"
    assert case_id("sub-tum001_ses-20200101_acq-ax_T2w.nii") == "sub-tum001_ses-20200101_acq-ax"


def test_dataset_json_declares_the_regions():
    assert dataset_json(7) == {
        "channel_names": {"0": "T2w"}, "labels": {"background": 0, "sc": [1, 2], "lesion": 2},
        "regions_class_order": [1, 2], "numTraining": 7, "file_ending": ".nii.gz", "image_orientation": "RPI",
    }


# --- subject-level folds -----------------------------------------------------------------------------------


def _cases() -> pd.DataFrame:
    """Five training subjects (a..e) with 1-3 images each, and two test images that folds must ignore."""
    counts = {"sub-a": 3, "sub-b": 2, "sub-c": 1, "sub-d": 3, "sub-e": 2}
    rows = [{"case_id": f"{s}_img{i}", "subset": "imagesTr", "participant_id": s}
            for s, n in counts.items() for i in range(n)]
    rows += [{"case_id": "sub-t_img0", "subset": "imagesTs_TUM", "participant_id": "sub-t"},
             {"case_id": "sub-u_img0", "subset": "imagesTs_UCSF", "participant_id": "sub-u"}]
    table = pd.DataFrame(rows)
    for column in CASE_COLUMNS:
        if column not in table:
            table[column] = "n/a"
    return table[CASE_COLUMNS]


def test_subject_folds_keep_subjects_on_one_side_and_validate_each_case_once():
    cases = _cases()
    subject_of = dict(zip(cases["case_id"], cases["participant_id"]))
    training = set(cases.loc[cases["subset"] == "imagesTr", "case_id"])
    folds = subject_folds(cases, 3)
    assert len(folds) == 3
    validated = []
    for fold in folds:
        assert fold["train"] == sorted(fold["train"]) and fold["val"] == sorted(fold["val"])
        assert set(fold["train"]) | set(fold["val"]) == training
        assert not {subject_of[c] for c in fold["train"]} & {subject_of[c] for c in fold["val"]}
        validated += fold["val"]
    assert sorted(validated) == sorted(training)  # each training case validated exactly once
    # 5 subjects dealt round-robin into 3 groups: 2, 2 and 1 subjects
    assert [len({subject_of[c] for c in fold["val"]}) for fold in folds] == [2, 2, 1]
    assert subject_folds(cases, 3) == folds  # deterministic


def test_subject_folds_need_as_many_subjects_as_folds():
    with pytest.raises(InputError, match="5 training subjects cannot make 6 folds"):
        subject_folds(_cases(), 6)


def _write_cases(work_dir, dataset="chunks_native"):
    folder = NnunetFolders(work_dir).raw / dataset_spec(dataset).name
    folder.mkdir(parents=True)
    _cases().to_csv(folder / CASES_TSV, sep="\t", index=False)


def test_ensure_splits_writes_our_folds_once_and_refuses_another_split(tmp_path):
    _write_cases(tmp_path)
    path = ensure_splits(tmp_path, "chunks_native", 3)
    assert path == tmp_path / "nnunet" / "preprocessed" / "Dataset901_ChunksNative" / "splits_final.json"
    assert json.loads(path.read_text()) == subject_folds(_cases(), 3)
    stamp = path.stat().st_mtime_ns
    assert ensure_splits(tmp_path, 901, 3) == path and path.stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="differs from the subject-level folds"):
        ensure_splits(tmp_path, "chunks_native", 2)
    path.write_text(json.dumps([{"train": ["sub-a_img0"], "val": ["sub-a_img1"]}]))
    with pytest.raises(InputError, match="remove it to use ours"):
        ensure_splits(tmp_path, "chunks_native", 3)


def test_every_setting_is_documented_in_the_key_table():
    import sclesion.nnunet.settings as module

    for name in NnunetSettings.__dataclass_fields__:
        if name not in ("grid", "slurm"):
            assert f"\nnnunet_{name} " in module.__doc__, name


def test_prepare_builds_only_the_variants_of_the_grid_and_names_images_left_out(tmp_path, monkeypatch, capsys):
    from sclesion.nnunet import runner

    calls = []

    def fake_build(bids_root, work_dir, variants, n_jobs, progress):
        calls.append(variants)
        return pd.DataFrame([
            {"variant": "chunks_straightened", "participant_id": "sub-tum001", "session": "ses-1", "chunk": 2,
             "image": "x", "status": "failed: cord mask has a gap"},
            {"variant": "chunks_straightened", "participant_id": "sub-tum001", "session": "ses-1", "chunk": 1,
             "image": "y", "status": "built"},
        ])

    cases = pd.DataFrame({"subset": ["imagesTr", "imagesTs_TUM"]})
    monkeypatch.setattr(runner, "build_variants", fake_build)
    monkeypatch.setattr(runner, "convert_dataset", lambda spec, *args, **kwargs: cases)
    monkeypatch.setattr(runner, "plan", lambda spec, *args, **kwargs: tmp_path / f"{spec.name}.json")
    settings = NnunetSettings(grid={"chunks_native": ("2d",), "chunks_straightened": ("2d",)})
    prepared = runner.prepare(settings, tmp_path, tmp_path, pd.DataFrame(), progress=False)
    assert calls == [("chunks_straightened",)]
    assert prepared["n_training"].tolist() == [1, 1] and prepared["n_test"].tolist() == [1, 1]
    out = capsys.readouterr().out
    assert "left out of chunks_straightened: sub-tum001 ses-1 chunk 2: failed: cord mask has a gap" in out
    assert "chunk 1" not in out


def test_prepare_plans_datasets_side_by_side_in_grid_order_and_raises_after_the_running_one(tmp_path, monkeypatch):
    import threading
    import time

    from sclesion.nnunet import runner
    from sclesion.nnunet.environment import NnunetStepError

    running, most, planned = set(), [], []
    lock = threading.Lock()

    def fake_plan(spec, *args, **kwargs):
        with lock:
            running.add(spec.key)
            most.append(len(running))
        time.sleep(0.1 if spec.key == "chunks_native" else 0.02)  # the first dataset ends last
        with lock:
            running.discard(spec.key)
            planned.append(spec.key)
        if spec.key == "chunks_two_sites":
            raise NnunetStepError("planning chunks_two_sites failed")
        return tmp_path / f"{spec.name}.json"

    monkeypatch.setattr(runner, "convert_dataset",
                        lambda spec, *args, **kwargs: pd.DataFrame({"subset": ["imagesTr", "imagesTs_TUM"]}))
    monkeypatch.setattr(runner, "plan", fake_plan)
    grid = {"chunks_native": ("2d",), "chunks_cervical": ("2d",)}
    prepared = runner.prepare(NnunetSettings(grid=grid, parallel_jobs=2), tmp_path, tmp_path, pd.DataFrame(),
                              progress=False)
    assert prepared["dataset"].tolist() == ["chunks_native", "chunks_cervical"]  # grid order, not finishing order
    assert planned == ["chunks_cervical", "chunks_native"] and max(most) == 2
    planned.clear()
    with pytest.raises(NnunetStepError, match="planning chunks_two_sites failed"):
        runner.prepare(NnunetSettings(grid={"chunks_native": ("2d",), "chunks_two_sites": ("2d",)}, parallel_jobs=2),
                       tmp_path, tmp_path, pd.DataFrame(), progress=False)
    assert "chunks_native" in planned and not running  # the running dataset finished before the error


def test_planning_makes_nnunets_spawned_pools_fork_in_its_own_process_only():
    import subprocess
    import sys

    code = ("import multiprocessing\n"
            "from sclesion.nnunet.preprocess import _fork_worker_pools\n"
            "before = multiprocessing.get_context('spawn').get_start_method()\n"
            "_fork_worker_pools()\n"
            "print(before, multiprocessing.get_context('spawn').get_start_method(),"
            " multiprocessing.get_context('forkserver').get_start_method())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["spawn", "fork" if sys.platform == "linux" else "spawn", "forkserver"]
    import multiprocessing
    assert multiprocessing.get_context("spawn").get_start_method() == "spawn"  # this process is untouched


def test_test_sets_side_by_side_start_with_3d_then_the_largest(tmp_path, monkeypatch):
    import contextlib
    from concurrent.futures import Future

    from sclesion.nnunet import runner

    started = []

    class FakePool:
        def submit(self, function, **task):
            started.append(task["out_dir"])
            future = Future()
            future.set_result(None)
            return future

    monkeypatch.setattr(runner, "process_pool", lambda *args, **kwargs: contextlib.nullcontext(FakePool()))
    tasks = []
    for name, configuration, size, field in [("small 2d", "2d", 10, 0), ("large 2d", "2d", 1000, 0),
                                             ("small 3d", "3d_fullres", 5, 0), ("large 3d", "3d_fullres", 500, 0),
                                             ("straightened 2d", "2d", 10, 2000)]:
        image, inverse = tmp_path / f"{name}.nii.gz", tmp_path / f"{name}_field.nii.gz"
        image.write_bytes(b"x" * size)
        inverse.write_bytes(b"x" * field)
        tasks.append((configuration, {"images": [str(image)], "out_dir": name,
                                      "inverse_fields": [str(inverse)] if field else None}))
    runner._predict_test_sets(tasks, parallel=2, progress=False)
    assert started == ["large 3d", "small 3d", "straightened 2d", "large 2d", "small 2d"]
