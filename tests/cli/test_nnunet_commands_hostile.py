"""`sclesion predict`, `convert`, `plan` and `train` against hostile input: one line, no traceback, inputs kept."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture
def image(h, tmp_path):
    """A small image to predict, and its sha256."""
    path = h.save(tmp_path / "in" / "sub-x_T2w.nii.gz", np.ones((8, 8, 4), np.float32))
    return path


@pytest.fixture
def fake_model(tmp_path):
    """A folder laid out like a model, with a checkpoint that is not one."""
    model = tmp_path / "nnUNetTrainer__nnUNetPlans__2d"
    (model / "fold_0").mkdir(parents=True)
    (model / "plans.json").write_text(json.dumps({"image_reader_writer": "NibabelIOWithReorient"}))
    (model / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T2w"}}))
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"not a checkpoint")
    return model


def test_predict_refuses_a_missing_or_incomplete_model_folder(cli, h, image, tmp_path):
    before = h.digests(image.parent)
    h.refused(cli("predict", "-i", image, "-m", tmp_path / "nope", "-o", tmp_path / "o"), "nope", "model folder")
    half = tmp_path / "half"
    half.mkdir()
    h.refused(cli("predict", "-i", image, "-m", half, "-o", tmp_path / "o"), str(half), "plans.json")
    assert h.digests(image.parent) == before and not (tmp_path / "o" / "labelmaps").exists()


def test_predict_refuses_a_checkpoint_that_is_not_one(cli, h, image, fake_model, tmp_path):
    line = h.refused(cli("predict", "-i", image, "-m", fake_model, "-o", tmp_path / "o"))
    assert "checkpoint_final.pth" in line and "cannot read" in line


def test_predict_refuses_a_truncated_image_and_options_out_of_range(cli, h, image, fake_model, tmp_path):
    h.truncate(image)
    h.refused(cli("predict", "-i", image, "-m", fake_model, "-o", tmp_path / "o"), str(image))
    h.refused(cli("predict", "-i", image, "-m", fake_model, "-o", tmp_path / "o", "--threads", "0"), "--threads")
    h.refused(cli("predict", "-i", tmp_path / "missing.nii.gz", "-m", fake_model, "-o", tmp_path / "o"),
              "missing.nii.gz")


def test_predict_never_writes_into_a_file(cli, h, image, fake_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    h.refused(cli("predict", "-i", image, "-m", fake_model, "-o", blocker / "out"), str(blocker))
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("command", ["convert", "plan", "train"])
def test_nnunet_steps_refuse_an_unknown_profile_or_dataset(cli, h, command, tmp_path, smoke_bids):
    h.refused(cli(command, "--profile", tmp_path / "nope.yml"), "nope.yml", "no such profile")
    h.refused(cli(command, "--profile", "smoke", "--bids-root", smoke_bids, "--work-dir", tmp_path / "w",
                  "--dataset", "no_such_dataset"), "no_such_dataset")
    h.refused(cli(command, "--profile", "smoke", "--jobs", "0"), "--jobs")


@pytest.mark.parametrize("command", ["convert", "plan", "train"])
def test_nnunet_steps_refuse_a_missing_dataset(cli, h, command, tmp_path):
    h.refused(cli(command, "--profile", "smoke", "--bids-root", tmp_path / "no_bids", "--work-dir", tmp_path / "w"),
              "no_bids")
