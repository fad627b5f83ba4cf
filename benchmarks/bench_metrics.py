"""Benchmark: every metric of one prediction/reference pair, end to end, against MetricsReloaded's cost.

The pair: a 320 x 320 x 60 grid at 0.5 x 0.5 x 4 mm (1 mm^3 voxels), a curved cord and 8 lesions of 5-200 mm^3
inside it; the prediction misses one lesion, adds a false positive and gets the others partly right. It is
written as NIfTI files the way the study stores them (a region label map for the prediction; ``_seg-manual``
and ``_lesion-manual`` masks for the reference), and the timed call is
:func:`sclesion.evaluation.evaluate.evaluate_case`: loading the three files, checking shapes and affines, every metric
for cord and lesion (Dice, NSD, RVE, PPVL, SensL, F1ScoreL, lesion counts) and the per-lesion detection table.

Memory is measured two ways: ``tracemalloc`` peak during the call (every NumPy/SciPy array allocation), and
the resident set size of a fresh process (Linux ``/proc/self/status``): its peak during a call (reset through
``/proc/self/clear_refs`` after a warm-up call) minus its size just before, and the whole process's peak.
MetricsReloaded's figures were measured by the project on the same kind of pair (book/methods.md, "What the
reference tools cost"); it cannot be installed here.

Usage: ``python benchmarks/bench_metrics.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np

from sclesion.evaluation.detection import detect_lesions
from sclesion.evaluation.evaluate import Case, Chunk, Files, Key, evaluate_case
from sclesion.evaluation.metrics import compute_metrics, split_regions

SHAPE = (320, 320, 60)
SPACING = (0.5, 0.5, 4.0)
LESION_VOLUMES_MM3 = (5, 12, 25, 40, 70, 100, 150, 200)
REPEATS = 20

#: MetricsReloaded on one such pair, seconds per call and peak memory in MB (book/methods.md, "What the
#: reference tools cost").
METRICSRELOADED_SECONDS = 7.0
METRICSRELOADED_SECONDS_AS_SCRIPTED = 14.0  # the authors' script computes every metric twice
METRICSRELOADED_MB = 1100.0


def phantom(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference cord and lesion masks and a predicted region label map (0, 1 cord, 2 lesion)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
    cord = np.zeros(SHAPE, bool)
    pred_cord = np.zeros(SHAPE, bool)
    centers = []
    for k in range(SHAPE[2]):
        cx, cy = 160 + 12 * np.sin(k / 12), 170 + 8 * np.cos(k / 15)  # a gently curved cord
        centers.append((cx, cy))
        cord[:, :, k] = ((x - cx) / 16) ** 2 + ((y - cy) / 12) ** 2 <= 1  # 8 x 6 mm ellipse
        pred_cord[:, :, k] = ((x - cx - 1) / 16.5) ** 2 + ((y - cy) / 11.5) ** 2 <= 1
    lesion = np.zeros(SHAPE, bool)
    pred_lesion = np.zeros(SHAPE, bool)
    for i, volume in enumerate(LESION_VOLUMES_MM3):
        k0 = 4 + 7 * i
        n_slices = 1 if volume < 20 else 2 if volume < 100 else 3
        radius = np.sqrt(volume / n_slices / np.pi)  # voxels: 1 mm^3 each
        cx, cy = centers[k0]
        cx, cy = cx + rng.uniform(-4, 4), cy + rng.uniform(-3, 3)
        for k in range(k0, k0 + n_slices):
            blob = (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
            lesion[:, :, k] |= blob
            if i != 2:  # lesion 3 is missed
                pred_lesion[:, :, k] |= (x - cx - 1) ** 2 + (y - cy) ** 2 <= (radius * 0.9) ** 2
    fp_x, fp_y = centers[50]
    pred_lesion[:, :, 50] |= (x - fp_x) ** 2 + (y - fp_y) ** 2 <= 4  # a false positive
    lesion &= cord
    label_map = np.where(pred_cord | pred_lesion, 1, 0).astype(np.uint8)
    label_map[pred_lesion] = 2
    return cord.astype(np.uint8), lesion.astype(np.uint8), label_map


def pair_paths(folder: Path) -> dict[str, Path]:
    """Where the pair's files live in ``folder``."""
    stem = "sub-bench_ses-01_acq-ax_chunk-1_T2w"
    return {
        "pred": folder / f"{stem}.nii.gz",
        "cord": folder / f"{stem}_seg-manual.nii.gz",
        "lesion": folder / f"{stem}_lesion-manual.nii.gz",
    }


def write_pair(folder: Path) -> None:
    """Write the phantom as NIfTI files (uint8, as nnU-Net and the BIDS labels store them) in ``folder``."""
    cord, lesion, label_map = phantom()
    affine = np.diag([*SPACING, 1.0])
    paths = pair_paths(folder)
    for key, data in (("pred", label_map), ("cord", cord), ("lesion", lesion)):
        nib.save(nib.Nifti1Image(data, affine), paths[key])


def pair_case(folder: Path) -> Case:
    """The evaluation case of the pair written in ``folder`` (no file is read)."""
    paths = pair_paths(folder)
    key = Key("sub-bench", "ses-01", "ax", 1)
    chunk = Chunk(key, Files(label_map=paths["pred"]), Files(cord=paths["cord"], lesion=paths["lesion"]))
    return Case(key, (chunk,), ("cord", "lesion"), stacked=False)


def peak_rss_mb(case_folder: Path) -> tuple[float, float]:
    """Peak resident memory of a fresh process evaluating the written pair, in MB.

    Returns
    -------
    process_peak : float
        The process's peak RSS (``resource.getrusage``), Python and libraries included.
    call_increase : float
        Peak RSS during a second call minus RSS before it (the peak is reset through
        ``/proc/self/clear_refs`` after a first, warm-up call, so lazy imports are not counted).
    """
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "import bench_metrics as b\n"
        "from sclesion.evaluation.evaluate import evaluate_case\n"
        "case = b.pair_case(Path(sys.argv[1]))\n"
        "def status(field):\n"
        "    line = next(l for l in open('/proc/self/status') if l.startswith(field))\n"
        "    return float(line.split()[1]) / 1024\n"
        "evaluate_case(case)\n"
        "process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "before = status('VmRSS')\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "evaluate_case(case)\n"
        "print(process_peak, status('VmHWM') - before)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(case_folder), str(Path(__file__).parent)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    process_peak, increase = (float(v) for v in output.split())
    return process_peak, increase


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write_pair(Path(tmp))
        case = pair_case(Path(tmp))
        result = evaluate_case(case)  # warm-up (imports, page cache)
        assert not result.problems, result.problems
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            evaluate_case(case)
            times.append(time.perf_counter() - start)
        cord, lesion, label_map = phantom()
        pred_cord, pred_lesion = split_regions(label_map)
        in_memory = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            compute_metrics(pred_cord, cord | lesion)
            compute_metrics(pred_lesion, lesion)
            detect_lesions(pred_lesion, lesion, SPACING)
            in_memory.append(time.perf_counter() - start)
        tracemalloc.start()
        evaluate_case(case)
        traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rss_peak, rss_increase = peak_rss_mb(Path(tmp))
    median, worst = float(np.median(times)), float(np.max(times))
    lesion_row = next(r for r in result.rows if r["label"] == "lesion")
    print(f"pair: {SHAPE} voxels at {SPACING} mm, cord + {len(LESION_VOLUMES_MM3)} lesions of "
          f"{min(LESION_VOLUMES_MM3)}-{max(LESION_VOLUMES_MM3)} mm^3; lesion Dice {lesion_row['Dice']:.3f}, "
          f"F1ScoreL {lesion_row['F1ScoreL']:.3f}, lesions ref/pred {lesion_row['RefLesionsCount']}/"
          f"{lesion_row['PredLesionsCount']}")  # fmt: skip
    print("timed: load 3 NIfTI files + all metrics for cord and lesion + lesion detection table, "
          f"{REPEATS} runs\n")
    print(f"{'':38}{'sclesion':>12}{'MetricsReloaded':>18}{'ratio':>10}")
    print(f"{'time per pair, median (s)':38}{median:12.3f}{METRICSRELOADED_SECONDS:18.1f}"
          f"{METRICSRELOADED_SECONDS / median:9.0f}x")  # fmt: skip
    print(f"{'time per pair, slowest run (s)':38}{worst:12.3f}{METRICSRELOADED_SECONDS:18.1f}"
          f"{METRICSRELOADED_SECONDS / worst:9.0f}x")  # fmt: skip
    print(f"{'  as the authors script runs it (s)':38}{median:12.3f}{METRICSRELOADED_SECONDS_AS_SCRIPTED:18.1f}"
          f"{METRICSRELOADED_SECONDS_AS_SCRIPTED / median:9.0f}x")  # fmt: skip
    print(f"{'  of which metrics on loaded arrays (s)':38}{np.median(in_memory):12.3f}")
    print(f"{'peak memory, tracemalloc (MB)':38}{traced_mb:12.1f}{METRICSRELOADED_MB:18.0f}"
          f"{METRICSRELOADED_MB / traced_mb:9.0f}x")  # fmt: skip
    print(f"{'peak RSS increase during a call (MB)':38}{rss_increase:12.1f}{METRICSRELOADED_MB:18.0f}"
          f"{METRICSRELOADED_MB / max(rss_increase, 1e-9):9.0f}x")  # fmt: skip
    print(f"{'peak RSS of the whole process (MB)':38}{rss_peak:12.1f}")
    print("\nmemory: tracemalloc peak = all Python/NumPy allocations during one call; RSS increase = peak RSS "
          "(VmHWM, reset after a warm-up call) minus RSS before the call; whole process = ru_maxrss incl. Python")
    ok = median <= 0.1 and traced_mb <= 300
    print(f"target (<= 0.1 s and <= 300 MB per pair): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
