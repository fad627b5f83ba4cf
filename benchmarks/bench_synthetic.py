"""Benchmark: time and size on disk of generating the synthetic cohorts (smoke, demo).

Run: ``python benchmarks/bench_synthetic.py [--n-jobs 2]``. There is no reference tool for this step, so only
our figures are printed. Each cohort is generated into a fresh temporary folder (the cache is not used).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from sclesion.data.synthetic import generate_cohort, load_spec


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--cohorts", nargs="+", default=["smoke", "demo"])
    args = parser.parse_args()
    print(f"{'cohort':<8} {'subjects':>8} {'files':>6} {'MB':>7} {'wall s':>7} {'CPU s':>7}  (n_jobs={args.n_jobs})")
    for name in args.cohorts:
        spec = load_spec(name)
        with tempfile.TemporaryDirectory() as tmp:
            cpu0 = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                       for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
            start = time.perf_counter()
            result = generate_cohort(spec, Path(tmp) / "bids", n_jobs=args.n_jobs, progress=False)
            wall = time.perf_counter() - start
            cpu = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                      for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) - cpu0
            files = sum(1 for p in result.root.rglob("*") if p.is_file())
            print(f"{name:<8} {sum(spec['sites'].values()):>8} {files:>6} {_size_mb(result.root):>7.1f} "
                  f"{wall:>7.1f} {cpu:>7.1f}")


if __name__ == "__main__":
    main()
