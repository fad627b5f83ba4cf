"""Benchmark: seconds per chunk to predict a test set, ours (``predict_files``) vs nnU-Net's ``nnUNetv2_predict``.

Usage: ``python benchmarks/bench_predict.py [--model MODEL_DIR ...] [--threads N] [--max-chunks N]``

Models: the demo profile's 2d and 3d_fullres chunks-native models when notebook 04 has trained them
(``_data/demo/work``), else the smoke profile's 2d model (trained here first if missing, about 3 minutes), or
any nnU-Net model folders laid out as nnU-Net's (``--model``, repeatable). Inputs: the test chunks of each
model's dataset (every ``imagesTs_*`` set; their converted copies, stored RPI, so that nnU-Net, which reads
files as they are stored, sees what ours sees), at most ``--max-chunks``.

The whole test set is predicted in one call per tool, in this run, one after the other:

* ours, in process: :func:`sclesion.nnunet.predict.predict_files` (model loading, inference, the label map,
  the two masks and their provenance records), as the training chapter calls it, imports done before;
* ours, as a command: ``sclesion predict -i FOLDER -m MODEL -o OUT --threads N`` (start-up and imports
  included, as a user waits for it);
* nnU-Net: ``nnUNetv2_predict -i FOLDER -o OUT -d DATASET -c CONFIGURATION -tr TRAINER -p PLANS -f FOLDS
  -chk checkpoint_final.pth -step_size 0.5 --disable_tta -device cpu -npp 1 -nps 1`` (the same model folder
  and inference settings; one preprocessing and one export worker);
* the demo profile's settings, in process: tiles in batches of 8 (``nnunet_tile_batch``) with the study's step,
  then also with the demo's tile step 1.0 (``nnunet_tile_step``), beside ``nnUNetv2_predict -step_size 1.0``.

Both get the same thread limits (``nnUNet_def_n_proc`` too: nnU-Net, and we as nnU-Net, cap the sliding
window's torch threads at it) and ``OMP_WAIT_POLICY=PASSIVE`` (the ``sclesion`` command's default; this
process sets it for itself, before torch loads, unless it is set). Reported per model: wall seconds per chunk
of each, the ratio ours / nnU-Net (commands against each other) and whether the label maps of both tools agree
voxel by voxel on every chunk; for the demo's settings, seconds per chunk and the share of voxels whose label
differs from nnU-Net's with the same tile step (float rounding of the batched tiles).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP, as the sclesion command does

from shared import ROOT, default_model, measure, test_cases, trained_model  # noqa: E402


def default_models() -> list[Path]:
    """The demo 2d and 3d_fullres chunks-native models if trained, else the smoke 2d one."""
    demo = [trained_model(c) for c in ("2d", "3d_fullres")]
    if all(m is not None and "demo" in m.parts for m in demo):
        return demo
    return [default_model()]


def same_labels(ours: Path, theirs: Path, cases: list[str]) -> bool:
    """True when every case's label map is identical in both output folders."""
    import nibabel as nib

    for case in cases:
        a = np.asanyarray(nib.load(ours / "labelmaps" / f"{case}_0000.nii.gz").dataobj)
        b = np.asanyarray(nib.load(theirs / f"{case}.nii.gz").dataobj)
        if not np.array_equal(a, b):
            return False
    return True


def changed_share(ours: Path, theirs: Path, cases: list[str]) -> float:
    """Share of voxels, over every case, whose label differs between the two output folders."""
    import nibabel as nib

    changed = total = 0
    for case in cases:
        a = np.asanyarray(nib.load(ours / "labelmaps" / f"{case}_0000.nii.gz").dataobj)
        b = np.asanyarray(nib.load(theirs / f"{case}.nii.gz").dataobj)
        changed, total = changed + int((a != b).sum()), total + a.size
    return changed / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append",
                        help="nnU-Net model folder, repeatable (default: demo 2d and 3d_fullres, else smoke 2d)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each tool (default 2)")
    parser.add_argument("--max-chunks", type=int, default=0, help="at most this many test chunks (default: all)")
    args = parser.parse_args(argv)

    from sclesion.nnunet.predict import available_folds, nnunet_predict_command, predict_files

    with contextlib.redirect_stdout(io.StringIO()):  # imported before timing, as in a running notebook
        import nnunetv2.inference.predict_from_raw_data  # noqa: F401

    limits = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
              "nnUNet_def_n_proc": str(args.threads), "nnUNet_n_proc_DA": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    rows = []
    for model_dir in [m.resolve() for m in (args.model or default_models())]:
        folds = available_folds(model_dir)
        cases = test_cases(model_dir)
        if args.max_chunks:
            cases = cases.iloc[:args.max_chunks]
        configuration = model_dir.name.split("__")[-1]
        print(f"model {model_dir} (folds {folds}); {len(cases)} test chunks; {args.threads} threads each; CPU",
              flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            inputs = tmp / "in"
            inputs.mkdir()
            for path in cases["path"]:
                shutil.copy(path, inputs / path.name)
            images = sorted(inputs.glob("*.nii.gz"))
            start = time.perf_counter()
            predict_files(model_dir, images, tmp / "ours_in_process", threads=args.threads, progress=False)
            in_process = time.perf_counter() - start
            theirs_cmd, environ = nnunet_predict_command(model_dir, inputs, tmp / "nnunet", folds)
            env = {**os.environ, **environ, **limits, "PYTHONPATH": str(ROOT / "lib")}
            ours_cmd = [sys.executable, "-m", "sclesion", "predict", "-i", str(inputs), "-m", str(model_dir),
                        "-o", str(tmp / "ours"), "--threads", str(args.threads)]
            ours, _ = measure(ours_cmd, env)
            theirs, _ = measure(theirs_cmd, env)
            same = same_labels(tmp / "ours", tmp / "nnunet", list(cases["case_id"]))
            same = same and same_labels(tmp / "ours_in_process", tmp / "nnunet", list(cases["case_id"]))
            demo = []  # (label, seconds, changed share against nnU-Net with the same step, nnU-Net's seconds)
            for step in (0.5, 1.0):
                start = time.perf_counter()
                predict_files(model_dir, images, tmp / f"batched_{step}", threads=args.threads, progress=False,
                              tile_batch=8, tile_step=step)
                seconds = time.perf_counter() - start
                reference, nnunet_seconds = tmp / "nnunet", theirs
                if step != 0.5:
                    step_cmd, _ = nnunet_predict_command(model_dir, inputs, tmp / "nnunet_step1", folds, tile_step=step)
                    nnunet_seconds, _ = measure(step_cmd, env)
                    reference = tmp / "nnunet_step1"
                demo.append((f"batch 8, step {step}", seconds,
                             changed_share(tmp / f"batched_{step}", reference, list(cases["case_id"])), nnunet_seconds))
        rows.append((configuration, len(cases), in_process, ours, theirs, same, demo))
        print(f"nnU-Net's command: {shlex.join(theirs_cmd)}", flush=True)
    print(f"\n{'model':<11} {'chunks':>6} {'ours in process s/chunk':>23} {'ours command s/chunk':>20} "
          f"{'nnU-Net s/chunk':>15} {'ratio (commands)':>16}  same labels")
    for configuration, n, in_process, ours, theirs, same, _ in rows:
        print(f"{configuration:<11} {n:6d} {in_process / n:23.2f} {ours / n:20.2f} {theirs / n:15.2f} "
              f"{ours / theirs:16.2f}  {same}")
    print(f"\nthe demo's settings, in process; nnU-Net's command with the same tile step\n{'model':<11} "
          f"{'settings':<17} {'ours s/chunk':>12} {'nnU-Net s/chunk':>15} {'ratio':>6}  voxels changed")
    for configuration, n, *_, demo in rows:
        for label, seconds, changed, nnunet_seconds in demo:
            print(f"{configuration:<11} {label:<17} {seconds / n:12.2f} {nnunet_seconds / n:15.2f} "
                  f"{seconds / nnunet_seconds:6.2f}  {changed:.2e}")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
