"""`sclesion evaluate` against hostile input: broken files in a batch, ambiguous names, off-grid files,
outputs over inputs, stale outputs, bad options, workers killed with their parent."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

SHAPE = (12, 12, 8)
SUBJECTS = ("a", "b", "c", "d")


def stem(subject: str) -> str:
    return f"sub-{subject}_ses-01_acq-ax_chunk-1_T2w"


def cord_and_lesion(k: int):
    cord = np.zeros(SHAPE, np.uint8)
    cord[4:8, 4:8, :] = 1
    lesion = np.zeros(SHAPE, np.uint8)
    lesion[5:7, 5:7, 1 + k % 3 : 3 + k % 3] = 1
    return cord, lesion


@pytest.fixture
def study(tmp_path, h):
    """Reference labels and label-map predictions of four images (the lesion of ``d`` is missed)."""
    ref, pred = tmp_path / "labels", tmp_path / "pred"
    for k, subject in enumerate(SUBJECTS):
        cord, lesion = cord_and_lesion(k)
        h.save(ref / f"{stem(subject)}_seg-manual.nii.gz", cord)
        h.save(ref / f"{stem(subject)}_lesion-manual.nii.gz", lesion)
        labels = cord + (lesion if subject != "d" else 0)
        h.save(pred / f"{stem(subject)}.nii.gz", labels.astype(np.uint8))
    return ref, pred, tmp_path


def test_each_broken_prediction_is_one_line_and_the_rest_is_evaluated(cli, h, study):
    ref, pred, tmp = study
    (pred / f"{stem('a')}.nii.gz").write_bytes(b"")
    (pred / f"{stem('b')}.nii.gz").write_text("this is not an image\n")
    h.header_fragment(pred / f"{stem('c')}.nii.gz")
    result = cli("evaluate", "--pred", pred, "--ref", ref, "-o", tmp / "m.csv", "--quiet")
    assert result.status == 1 and "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 3
    for subject in "abc":
        assert sum(line.startswith(str(pred / f"{stem(subject)}.nii.gz")) for line in lines) == 1
    metrics = pd.read_csv(tmp / "m.csv")
    assert set(metrics["participant_id"]) == {"sub-d"}


def test_a_broken_reference_is_one_line_too(cli, h, study):
    ref, pred, tmp = study
    h.truncate(ref / f"{stem('b')}_lesion-manual.nii.gz", 0.3)
    result = cli("evaluate", "--pred", pred, "--ref", ref, "-o", tmp / "m.csv", "--quiet", "--jobs", "2")
    assert result.status == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith(str(ref / f"{stem('b')}_lesion-manual.nii.gz"))
    assert set(pd.read_csv(tmp / "m.csv")["participant_id"]) == {"sub-a", "sub-c", "sub-d"}


def test_binary_lesion_masks_with_an_ambiguous_name_are_refused_or_read_as_declared(cli, h, study):
    ref, pred, tmp = study
    lesion_only = tmp / "lesion_pred"
    for k, subject in enumerate(SUBJECTS):
        h.save(lesion_only / f"{stem(subject)}_pred.nii.gz", cord_and_lesion(k)[1])
    refused = cli("evaluate", "--pred", lesion_only, "--ref", ref, "-o", tmp / "m.csv", "--quiet")
    assert refused.status == 2 and "Traceback" not in refused.err
    lines = refused.err.strip().splitlines()
    assert len(lines) == 5  # one per ambiguous file, then: nothing could be evaluated
    assert all("--pred-kind" in line for line in lines[:4])
    assert not (tmp / "m.csv").exists()
    declared = cli("evaluate", "--pred", lesion_only, "--ref", ref, "-o", tmp / "m.csv", "--quiet",
                   "--pred-kind", "lesion", "--labels", "lesion")
    assert declared.status == 0, declared.err
    metrics = pd.read_csv(tmp / "m.csv")
    assert metrics["Dice"].eq(1.0).all() and metrics["label"].eq("lesion").all()


def test_the_off_grid_file_is_the_one_named(cli, h, study):
    ref, pred, tmp = study
    cord, _ = cord_and_lesion(0)
    h.save(ref / f"{stem('a')}_seg-manual.nii.gz", cord[:, :, :-1])  # the cord mask is off the grid
    result = cli("evaluate", "--pred", pred, "--ref", ref, "-o", tmp / "m.csv", "--quiet")
    (line,) = result.err.strip().splitlines()
    assert line.startswith(str(ref / f"{stem('a')}_seg-manual.nii.gz")) and "shape (12, 12, 7) differs" in line


def test_never_writes_over_an_input_even_with_force(cli, h, study):
    ref, pred, tmp = study
    before = h.digests(ref, pred)
    target = ref / f"{stem('a')}_lesion-manual.nii.gz"
    h.refused(cli("evaluate", "--pred", pred, "--ref", ref, "-o", target, "--force", "--quiet"), str(target),
              "is an input")
    target = pred / f"{stem('a')}.nii.gz"
    h.refused(cli("evaluate", "--pred", pred, "--ref", ref, "-o", target, "--force", "--quiet"), str(target),
              "is an input")
    assert h.digests(ref, pred) == before


def test_a_changed_prediction_or_option_recomputes(cli, h, study):
    ref, pred, tmp = study
    out = tmp / "m.csv"
    assert cli("evaluate", "--pred", pred, "--ref", ref, "-o", out, "--quiet").status == 0
    first = pd.read_csv(out)
    assert "up to date" in cli("evaluate", "--pred", pred, "--ref", ref, "-o", out, "--quiet").out
    cord, lesion = cord_and_lesion(3)
    h.save(pred / f"{stem('d')}.nii.gz", (cord + lesion).astype(np.uint8))  # the missed lesion now found
    assert cli("evaluate", "--pred", pred, "--ref", ref, "-o", out, "--quiet").status == 0
    second = pd.read_csv(out)
    d = lambda table: table[(table.participant_id == "sub-d") & (table.label == "lesion")]["Dice"].item()  # noqa: E731
    assert d(first) == 0.0 and d(second) == 1.0
    assert cli("evaluate", "--pred", pred, "--ref", ref, "-o", out, "--quiet", "--labels", "cord").status == 0
    assert set(pd.read_csv(out)["label"]) == {"cord"}
    assert not (tmp / "m_detections.csv").exists()  # not left over from the run that evaluated lesions


@pytest.mark.parametrize("option", ["--jobs=0", "--jobs=-1", "--jobs=x", "--nsd-tau-mm=nan", "--nsd-tau-mm=0",
                                    "--nsd-tau-mm=inf"])
def test_out_of_range_options_are_refused(cli, h, study, option):
    ref, pred, tmp = study
    h.refused(cli("evaluate", "--pred", pred, "--ref", ref, "-o", tmp / "m.csv", option), option.split("=")[0])


def test_an_unwritable_output_folder_is_one_line(cli, h, study):
    ref, pred, tmp = study
    blocker = tmp / "somefile"
    blocker.write_text("x")
    h.refused(cli("evaluate", "--pred", pred, "--ref", ref, "-o", blocker / "m.csv", "--quiet"), str(blocker))


def test_workers_die_with_a_killed_parent(h, tmp_path):
    """A pool from the shared factory, in a process killed with SIGKILL: the workers go too, pipes close."""
    script = (
        "import time\n"
        "from sclesion.core.workers import process_pool\n"
        "with process_pool(2) as pool:\n"
        "    futures = [pool.submit(time.sleep, 60) for _ in range(2)]\n"
        "    time.sleep(60)\n"
    )
    h.kill_and_check_workers([sys.executable, "-c", script], h.env())


def test_evaluate_jobs_workers_die_with_a_killed_parent(h, study):
    ref, pred, tmp = study
    for k in range(60):  # enough cases for the workers to be busy when the parent is killed
        cord, lesion = cord_and_lesion(k)
        h.save(ref / f"sub-x{k}_ses-01_acq-ax_chunk-1_T2w_seg-manual.nii.gz", np.tile(cord, (4, 4, 4)))
        h.save(ref / f"sub-x{k}_ses-01_acq-ax_chunk-1_T2w_lesion-manual.nii.gz", np.tile(lesion, (4, 4, 4)))
        h.save(pred / f"sub-x{k}_ses-01_acq-ax_chunk-1_T2w.nii.gz", np.tile(cord + lesion, (4, 4, 4)))
    h.kill_and_check_workers([sys.executable, "-m", "sclesion", "evaluate", "--pred", str(pred), "--ref", str(ref),
                              "-o", str(tmp / "m.csv"), "--jobs", "2", "--quiet"], h.env())
