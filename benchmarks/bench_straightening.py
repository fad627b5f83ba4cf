"""Benchmark: ``sclesion.preprocessing.straightening.straighten`` against the measured figures of SCT's \
``sct_straighten_spinalcord``.

Usage: ``python benchmarks/bench_straightening.py [--repeats N]``

Data (``sclesion.data.phantoms``): the whole-spine phantom at true scale, 320 x 320 x 110 voxels of
0.5 x 0.5 x 4 mm with an S-curved cord (about 440 mm of it in the image, tilted up to 17 degrees) and six
lesions; and the 80 x 80 x 200 phantom of 1 mm voxels SCT was also timed on. SCT cannot be installed here,
so its figures are those measured in book/methods.md: 10 s for the small phantom, 36 s and 1.0 GB for the
whole-spine one, a mean centerline error of 0.40 mm and a round-trip cord Dice of 0.989-0.994.

Timing: each run happens in a child process reading the phantom files, which reports the wall time of the
call (imports and reading excluded) and its peak resident memory (``VmHWM``, imports included). Two calls are
timed: ``straighten`` (centerline, straightened image, both fields, in memory) and ``straighten_files``
(the same plus writing the image, both fields and the centerline as .nii.gz, as SCT's command does).

Accuracy (in this process, against the phantom's known curve): mean and maximum distance from the fitted
centerline to the true one; round-trip Dice of the cord mask, both through the fields (linear there and
back, binarized at the end, as SCT's figure) and along the study's pipeline (linear > 0.5 into straight
space, spline > 0.5 back); the straightened cord's centroid offset and cross-sectional area.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

#: SCT's sct_straighten_spinalcord, measured (book/methods.md, "What the reference tools cost").
SCT = {
    "small_seconds": 10.0,
    "whole_seconds": 36.0,
    "whole_peak_gb": 1.0,
    "centerline_error_mm": 0.40,
    "round_trip_dice": (0.989, 0.994),
}

#: Targets this project set itself (must be met on the whole-spine phantom).
TARGET = {"whole_seconds": 5.0, "round_trip_dice": 0.99, "centerline_error_mm": 0.4}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (MB), from /proc (VmHWM) or getrusage."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(image: str, cord: str, call: str, repeats: int) -> None:
    """Time ``straighten`` or ``straighten_files`` on files; print a JSON line."""
    from sclesion.preprocessing.straightening.straighten import straighten, straighten_files

    seconds = []
    for _ in range(repeats):
        if call == "straighten":
            img, mask = nib.load(image), nib.load(cord)
            np.asanyarray(img.dataobj), np.asanyarray(mask.dataobj)  # reading is not timed
            start = time.perf_counter()
            straighten(img, mask)
        else:
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                straighten_files(image, cord, out)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": min(seconds), "median_seconds": float(np.median(seconds)), "peak_mb": _peak_rss_mb()}))


def run_child(image: Path, cord: Path, call: str, repeats: int) -> dict:
    """Run :func:`child` in a fresh interpreter and return its figures."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(image), str(cord), call, str(repeats)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def phantoms():
    """The two phantoms: (name, CordPhantom)."""
    from sclesion.data.phantoms import Lesion, render_phantom, s_curve, whole_spine_phantom

    lesions = tuple(
        Lesion(s=s, u=u, v=v, radius_s=3.0, radius_u=1.5, radius_v=1.5)
        for s, u, v in ((80, 2.5, 0), (150, 0, 2), (200, 0, -2), (260, -2.5, 0), (330, 0, 2), (400, 2, 1))
    )
    whole = whole_spine_phantom(lesions=lesions)
    curve = s_curve(np.arange(-110.0, 110.0, 0.05), amplitude_ap=8.0, amplitude_lr=3.0, wavelength_mm=180.0)
    small = render_phantom((80, 80, 200), (1.0, 1.0, 1.0), curve)
    return [("80x80x200, 1 mm", small), ("whole spine 320x320x110", whole)]


def accuracy(phantom) -> dict:
    """Accuracy figures of one straightening of a phantom (see the module docstring)."""
    from sclesion.preprocessing.straightening.straighten import straighten
    from sclesion.preprocessing.straightening.qc import (
        centerline_error_mm,
        lesion_volume_changes,
        round_trip_dice,
        straight_cord_profile,
    )

    st = straighten(phantom.image, phantom.cord)
    error = centerline_error_mm(st.centerline.points, phantom.curve_mm)
    dice = round_trip_dice(st, phantom.cord)
    profile = straight_cord_profile(st, st.to_straight(phantom.cord), phantom.cord)
    full = profile[~profile["partial"]]
    figures = {
        "centerline_error_mean_mm": float(error.mean()),
        "centerline_error_max_mm": float(error.max()),
        "round_trip_fields": dice["fields"],
        "round_trip_pipeline": dice["pipeline"],
        "centroid_offset_mean_vox": float(full["offset_vox"].mean()),
        "centroid_offset_max_vox": float(full["offset_vox"].max()),
        "area_ratio_median": float(full["area_ratio"].median()),
    }
    if np.asanyarray(phantom.lesions.dataobj).any():
        lesions = lesion_volume_changes(st, phantom.lesions)
        figures["lesion_ratio_soft"] = lesions["ratio_soft"].tolist()
        figures["lesion_ratio_binary"] = lesions["ratio_binary"].tolist()
    return figures


def _row(label: str, ours: float, sct, fmt: str) -> None:
    """One table line: our figure, SCT's (a number, a range as text, or None when SCT has none) and the ratio."""
    ratio = f"{ours / sct:.2f}" if isinstance(sct, float) else "-"
    shown = "-" if sct is None else (f"{sct:{fmt}}" if isinstance(sct, float) else sct)
    print(f"  {label:<56}{ours:>12{fmt}}{shown:>14}{ratio:>10}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per call (the best is reported)")
    parser.add_argument("--child", nargs=4, metavar=("IMAGE", "CORD", "CALL", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
        return 0

    print("Rendering the phantoms ...", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, phantom in phantoms():
            image, cord = Path(folder) / "image.nii", Path(folder) / "cord.nii"
            nib.save(phantom.image, image)
            nib.save(phantom.cord, cord)
            timing = run_child(image, cord, "straighten", args.repeats)
            files = run_child(image, cord, "straighten_files", args.repeats)
            rows.append((name, phantom, timing, files, accuracy(phantom)))

    print("\nsclesion.straightening vs SCT sct_straighten_spinalcord (SCT: the figures measured in book/methods.md)\n")
    print(f"{'measure':<58}{'ours':>12}{'SCT':>14}{'ours/SCT':>10}")
    for name, phantom, timing, files, acc in rows:
        whole = name.startswith("whole")
        sct_seconds = SCT["whole_seconds"] if whole else SCT["small_seconds"]
        print(f"-- {name} ({'x'.join(str(n) for n in phantom.image.shape)} voxels)")
        _row("time, straighten() in memory (s)", timing["seconds"], sct_seconds, ".2f")
        _row("time, straighten_files() incl. writing .nii.gz (s)", files["seconds"], sct_seconds, ".2f")
        _row("peak memory, straighten_files() process (GB)", files["peak_mb"] / 1024,
             SCT["whole_peak_gb"] if whole else None, ".2f")
        _row("centerline error vs true curve, mean (mm)", acc["centerline_error_mean_mm"],
             SCT["centerline_error_mm"] if whole else None, ".3f")
        _row("centerline error vs true curve, max (mm)", acc["centerline_error_max_mm"], None, ".3f")
        low, high = SCT["round_trip_dice"]
        _row("round-trip cord Dice, through the fields", acc["round_trip_fields"],
             f"{low:.3f}-{high:.3f}" if whole else None, ".4f")
        _row("round-trip cord Dice, pipeline (binary in straight space)", acc["round_trip_pipeline"], None, ".4f")
        _row("straight cord centroid offset, mean (voxels)", acc["centroid_offset_mean_vox"], None, ".2f")
        _row("straight cord centroid offset, max over slices (voxels)", acc["centroid_offset_max_vox"], None, ".2f")
        _row("straight / native tilt-corrected cord area, median", acc["area_ratio_median"], None, ".3f")
        if "lesion_ratio_soft" in acc:
            soft = ", ".join(f"{r:.3f}" for r in acc["lesion_ratio_soft"])
            binary = ", ".join(f"{r:.2f}" for r in acc["lesion_ratio_binary"])
            print(f"  lesion volume straight/native, soft (geometry only): {soft}")
            print(f"  lesion volume straight/native, binary (linear > 0.5): {binary}")
        if whole:
            checks = {
                f"time <= {TARGET['whole_seconds']} s": timing["seconds"] <= TARGET["whole_seconds"],
                f"round-trip Dice (fields) >= {TARGET['round_trip_dice']}":
                    acc["round_trip_fields"] >= TARGET["round_trip_dice"],
                f"mean centerline error <= {TARGET['centerline_error_mm']} mm":
                    acc["centerline_error_mean_mm"] <= TARGET["centerline_error_mm"],
            }
            print("  targets: " + "; ".join(f"{k}: {'met' if ok else 'NOT met'}" for k, ok in checks.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
