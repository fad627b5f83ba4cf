"""Benchmark: where one nnU-Net training iteration spends its time on CPU, and what its patches hold.

Usage: ``python benchmarks/bench_training.py [--profile demo] [--dataset chunks_native ...]
[--configuration 2d 3d_fullres] [--iterations 20]``

Needs the profile's datasets converted and planned (``sclesion plan --profile demo``, notebook 04). For each
dataset and configuration, in a fresh process with nnU-Net's environment (a temporary results folder, so no
model folder is touched), two trainers are built with the profile's plans (the small CPU network):

* ours: the study's trainer with the profile's schedule, sampling and augmentation
  (:func:`sclesion.nnunet.trainer.trainer_class`), what ``sclesion train`` runs;
* nnU-Net: the base trainer class (``nnUNetTrainerDiceCELoss_noSmooth``, what ``nnUNetv2_train`` would build
  with these plans) with all of nnU-Net's defaults: its sampling and its full augmentation pipeline. It is
  built through :func:`~sclesion.nnunet.trainer.trainer_class` with the default schedule, because nnU-Net
  2.5.2's own learning-rate scheduler cannot be constructed under torch 2.13 (``nnUNetv2_train`` fails the
  same way here); only that object differs, and it costs nothing per iteration.

Each runs ``--iterations`` training iterations after :data:`WARM_UP` untimed ones, in the training process
(``nnUNet_n_proc_DA=0``, the CPU profiles' setting). Reported per iteration: seconds spent drawing the batch
(reading and cropping the cases, then the augmentation transforms, timed apart) and in the forward and
backward pass with the optimizer step; the ratio of ours to nnU-Net's; and, from the batch targets, the share
of patches holding at least one lesion voxel and the mean lesion voxels per patch. The training cases'
``class_locations`` (nnU-Net's sampled foreground voxels per region, which its oversampling draws from) are
summarised too: how many cases hold lesion locations at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


#: Training iterations run before timing (the first ones set up the convolution kernels).
WARM_UP = 3


def _lesion_channel(trainer) -> int:
    """Index of the lesion region (label 2 only) among the trainer's target channels."""
    regions = [tuple(r) if isinstance(r, (list, tuple)) else (r,) for r in trainer.label_manager.foreground_regions]
    return regions.index((2,))


def _time_trainer(trainer, iterations: int) -> dict:
    """Run a warm-up and ``iterations`` training iterations; return timings (s per iteration) and patch contents."""
    import numpy as np

    trainer.on_train_start()
    trainer.on_train_epoch_start()
    loader = trainer.dataloader_train.data_loader  # SingleThreadedAugmenter (nnUNet_n_proc_DA=0)
    transforms = loader.transforms
    spent = {"augmentation": 0.0}

    def timed_transforms(**kwargs):
        start = time.perf_counter()
        out = transforms(**kwargs)
        spent["augmentation"] += time.perf_counter() - start
        return out

    loader.transforms = timed_transforms
    channel = _lesion_channel(trainer)
    for _ in range(WARM_UP):
        trainer.train_step(next(trainer.dataloader_train))
    spent["augmentation"] = 0.0
    batch_s = step_s = 0.0
    with_lesion, lesion_voxels, patches = 0, 0, 0
    for _ in range(iterations):
        start = time.perf_counter()
        batch = next(trainer.dataloader_train)
        middle = time.perf_counter()
        trainer.train_step(batch)
        step_s += time.perf_counter() - middle
        batch_s += middle - start
        target = batch["target"][0] if isinstance(batch["target"], list) else batch["target"]
        lesion = np.asarray(target[:, channel] > 0).reshape(target.shape[0], -1).sum(axis=1)
        with_lesion += int((lesion > 0).sum())
        lesion_voxels += int(lesion.sum())
        patches += len(lesion)
    trainer.dataloader_train = trainer.dataloader_val = None
    return {
        "batch_size": int(trainer.batch_size), "patch": [int(p) for p in trainer.configuration_manager.patch_size],
        "load_s": (batch_s - spent["augmentation"]) / iterations, "augmentation_s": spent["augmentation"] / iterations,
        "step_s": step_s / iterations, "patches_with_lesion": with_lesion / patches,
        "lesion_voxels_per_patch": lesion_voxels / patches,
    }


def _class_locations(trainer) -> dict:
    """How many training cases hold sampled locations of each region (``properties['class_locations']``)."""
    dataset, _ = trainer.get_tr_and_val_datasets()
    dataset = getattr(dataset, "cases", dataset)  # the cases themselves, without lesion oversampling
    counts: dict[str, int] = {}
    voxels: dict[str, int] = {}
    for key in dataset.keys():
        _, _, properties = dataset.load_case(key)
        for region, locations in properties["class_locations"].items():
            name = str(region)
            counts[name] = counts.get(name, 0) + int(len(locations) > 0)
            voxels[name] = voxels.get(name, 0) + int(len(locations))
    return {"n_cases": len(dataset.keys()), "cases_with_locations": counts, "locations": voxels}


def measure_in_process(job: dict, iterations: int, output: str, reference: bool) -> None:
    """Child process: time ours (and nnU-Net's base trainer) on one dataset and configuration; write JSON."""
    import numpy as np
    import torch

    from sclesion.nnunet.datasets import NnunetFolders, dataset_spec
    from sclesion.nnunet.jobs import TrainJob
    from sclesion.nnunet.trainer import Schedule, trainer_class

    job = TrainJob(**job)
    torch.set_num_threads(job.threads)
    folder = NnunetFolders(Path(job.work_dir)).preprocessed / dataset_spec(job.dataset).name
    plans = json.loads((folder / f"{job.plans}.json").read_text())
    dataset_json = json.loads((folder / "dataset.json").read_text())
    classes = {"ours": trainer_class(job.schedule)}
    if reference:  # nnU-Net's defaults for everything (the learning-rate object aside: module docstring)
        classes["nnU-Net"] = trainer_class(Schedule(job.trainer))
    rows = {}
    for name, cls in classes.items():
        np.random.seed(0)
        torch.manual_seed(0)
        trainer = cls(plans, job.configuration, job.fold, dataset_json, device=torch.device(job.device))
        rows[name] = _time_trainer(trainer, iterations)
        if name == "ours":
            rows["class_locations"] = _class_locations(trainer)
    Path(output).write_text(json.dumps(rows))


def measure(job, iterations: int, reference: bool) -> dict:
    """Run :func:`measure_in_process` in a fresh process (nnU-Net's environment, temporary results folder)."""
    from sclesion.nnunet.environment import nnunet_environ
    from sclesion.nnunet.jobs import ensure_splits

    ensure_splits(job.work_dir, job.dataset, job.n_folds)  # else nnU-Net would write its own case-level split
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **nnunet_environ(job.work_dir, job.threads, job.n_proc, 0),
               "nnUNet_results": tmp, "PYTHONPATH": str(ROOT / "lib")}
        output = Path(tmp) / "out.json"
        code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import bench_training as b; "
                "b.measure_in_process(json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == '1')")
        from dataclasses import asdict

        done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), json.dumps(asdict(job)),
                               str(iterations), str(output), "1" if reference else "0"],
                              env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"measurement failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(output.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--dataset", action="append", default=None, help="dataset key (repeatable; default: "
                        "chunks_native and stitched_native)")
    parser.add_argument("--configuration", nargs="+", default=["2d", "3d_fullres"])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--no-reference", action="store_true", help="time only ours, not nnU-Net's base trainer")
    args = parser.parse_args(argv)

    from sclesion.core.profile import Profile
    from sclesion.nnunet.datasets import NnunetFolders, dataset_spec
    from sclesion.nnunet.jobs import TrainJob

    profile = Profile.load(args.profile)
    settings = profile.nnunet
    work_dir = profile.work_dir if profile.work_dir.is_absolute() else ROOT / profile.work_dir
    datasets = args.dataset or ["chunks_native", "stitched_native"]
    print(f"profile {args.profile}: plans {settings.plans}, {args.iterations} iterations after {WARM_UP} warm-up ones, "
          f"{settings.threads} torch threads, augmentation in process; load: {os.getloadavg()[0]:.2f}")
    header = (f"{'dataset':<22} {'config':<11} {'trainer':<8} {'batch':>5} {'patch':<14} {'load s':>7} "
              f"{'augm s':>7} {'fwd/bwd s':>9} {'total s':>8} {'ratio':>6} {'lesion %':>8} {'les vox':>8}")
    print(header)
    print("-" * len(header))
    for key in datasets:
        spec = dataset_spec(key)
        if not (NnunetFolders(work_dir).preprocessed / spec.name / f"{settings.plans}.json").is_file():
            print(f"{key}: not planned (run sclesion plan --profile {args.profile} --dataset {key}); skipped")
            continue
        for configuration in args.configuration:
            job = TrainJob.from_settings(settings, work_dir, key, configuration, 0)
            rows = measure(job, args.iterations, not args.no_reference)
            ours_total = None
            for name in ("ours", "nnU-Net"):
                if name not in rows:
                    continue
                r = rows[name]
                total = r["load_s"] + r["augmentation_s"] + r["step_s"]
                ours_total = total if name == "ours" else ours_total
                ratio = f"{ours_total / total:.2f}" if name == "nnU-Net" else ""
                print(f"{key:<22} {configuration:<11} {name:<8} {r['batch_size']:>5} {str(r['patch']):<14} "
                      f"{r['load_s']:>7.3f} {r['augmentation_s']:>7.3f} {r['step_s']:>9.3f} {total:>8.3f} "
                      f"{ratio:>6} {100 * r['patches_with_lesion']:>8.0f} {r['lesion_voxels_per_patch']:>8.1f}")
            loc = rows["class_locations"]
            with_loc = ", ".join(f"{k}: {v}/{loc['n_cases']}" for k, v in loc["cases_with_locations"].items())
            print(f"{'':<22} {configuration:<11} class_locations, training cases with sampled voxels: {with_loc}")
    print("ratio: ours / nnU-Net's base trainer per iteration; lesion %: patches with >= 1 lesion voxel; "
          "les vox: lesion voxels per patch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
