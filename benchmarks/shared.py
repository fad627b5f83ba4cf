"""Helpers shared by the benchmarks that time a trained model (``bench_segment``, ``bench_predict``).

Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


def measure(command: list[str], env: dict[str, str], timeout: float = 1800) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak resident memory of its process tree in MB)."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        if time.perf_counter() - start > timeout:
            process.kill()
            raise TimeoutError(f"{command[0]} ran over {timeout} s")
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{process.stderr.read().decode()[-2000:]}")
    return seconds, peak / 2**20


def trained_model(configuration: str = "2d") -> Path | None:
    """The chunks-native model of ``configuration`` trained by notebook 04 with the demo profile, else with
    the smoke profile; None when neither is trained."""
    from sclesion.core.profile import Profile
    from sclesion.nnunet.runner import grid_jobs

    for profile in ("demo", "smoke"):
        settings = Profile.load(profile).nnunet
        work = ROOT / "_data" / profile / "work"
        jobs = [j for j in grid_jobs(settings, work, ["chunks_native"]) if j.configuration == configuration]
        if jobs and jobs[0].done:
            return jobs[0].model_dir
    return None


def default_model() -> Path:
    """The demo 2d chunks-native model if trained, else the smoke one (trained now if missing)."""
    found = trained_model("2d")
    if found is not None:
        return found
    from sclesion.chapters.segmenting_your_own_scans import demo_model
    from sclesion.core.profile import Profile
    from sclesion.data.split import ensure_split
    from sclesion.data.synthetic import generate_cohort

    print("training the smoke profile's 2d chunks-native model first (a few minutes)", flush=True)
    settings = Profile.load("smoke").nnunet
    bids = generate_cohort("smoke", ROOT / "_data" / "smoke" / "bids", progress=False).root
    split, _ = ensure_split(bids, ROOT / "data_manifest" / "splits" / "smoke.tsv", None)
    return demo_model(settings, bids, ROOT / "_data" / "smoke" / "work", split)


def test_cases(model_dir: Path):
    """The test cases of the model's dataset (``cases.tsv`` rows of the ``imagesTs_*`` subsets), sorted by
    subset, participant, session and chunk, with ``path``: the converted image (stored RPI, so that nnU-Net,
    which reads files as they are stored, sees what ours sees)."""
    from sclesion.nnunet.convert import read_cases

    raw = model_dir.parents[2] / "raw" / model_dir.parent.name
    cases = read_cases(raw)
    test = cases[cases["subset"].str.startswith("imagesTs_")]
    test = test.sort_values(["subset", "participant_id", "session", "chunk"]).reset_index(drop=True)
    test["path"] = [raw / subset / f"{case}_0000.nii.gz" for subset, case in zip(test["subset"], test["case_id"])]
    return test


def test_chunks(model_dir: Path) -> list[Path]:
    """The converted chunks of the first TUM-like test session of the model's dataset, in chunk order."""
    test = test_cases(model_dir)
    tum = test[test["subset"] == "imagesTs_TUM"]
    first = tum.iloc[0]
    session = tum[(tum["participant_id"] == first["participant_id"]) & (tum["session"] == first["session"])]
    return list(session["path"])
