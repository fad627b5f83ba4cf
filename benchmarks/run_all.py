"""Run every benchmark of the project (``benchmarks/bench_*.py``), one after the other.

Usage: ``python benchmarks/run_all.py [NAME ...]`` (e.g. ``metrics`` runs only ``bench_metrics.py``).
Each benchmark prints its own table of our figures beside the reference tool's, with ratios:
``bench_metrics`` (MetricsReloaded's definitions), ``bench_stitching`` (TPTBox, from ``.venv-bench``),
``bench_straightening``, ``bench_synthetic``, ``bench_segment`` (``sclesion segment`` against nnU-Net's
``nnUNetv2_predict`` with the same model folder), ``bench_predict`` (seconds per chunk to predict a test set,
``predict_files`` and ``sclesion predict`` against ``nnUNetv2_predict``), ``bench_training`` (seconds per training
iteration, split into data loading, augmentation and forward/backward, beside nnU-Net's default trainer with the
same plans; needs the demo datasets planned). ``make bench`` installs the reference tools first. ``shared.py``
holds the helpers of the model benchmarks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
