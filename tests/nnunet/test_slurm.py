"""The paper's grid submitted as one SLURM job array through submitit, with a fake ``sbatch`` (no cluster).

submitit's SlurmExecutor writes a batch script and one pickle per task (``<job>_<task>_submitted.pkl``, holding
the function and its arguments) into its folder, then runs ``sbatch <script>`` and reads the job id from
"Submitted batch job <id>". It also requires ``srun`` on PATH to believe it is on a cluster. Both commands are
replaced here by small scripts placed first on PATH; the fake ``sbatch`` records its arguments and the script.
"""

from __future__ import annotations

import os
import pickle
import re
import stat
import sys

import pytest

from sclesion.nnunet.runner import grid_jobs, slurm_executor, submit
from sclesion.nnunet.jobs import run_job
from sclesion.nnunet.trainer import write_record
from sclesion.core.profile import Profile
from sclesion.preprocessing.variants import VARIANTS

JOB_ID = "4242"
BASE = "nnUNetTrainerDiceCELoss_noSmooth"


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """A ``bin`` folder with fake ``sbatch`` and ``srun`` first on PATH; returns the folder of sbatch's records."""
    bin_dir, records = tmp_path / "bin", tmp_path / "sbatch_records"
    bin_dir.mkdir()
    records.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{records}/calls.txt"\n'
        'for last in "$@"; do :; done\n'
        f'cp "$last" "{records}/script_$(wc -l < "{records}/calls.txt" | tr -d " ").sh"\n'
        f'echo "Submitted batch job {JOB_ID}"\n'
    )
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    for script in (sbatch, srun):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return records


@pytest.fixture
def paper_jobs(tmp_path):
    """The paper grid's 24 jobs of the four variants x (2d, 3d_fullres) x folds 0-2, in grid order."""
    settings = Profile.load("paper").nnunet
    work = tmp_path / "work"
    assert len(grid_jobs(settings, work)) == 30  # (2 + 3 + 2 + 2 + 1) configurations x 3 folds
    variant_jobs = grid_jobs(settings, work, list(VARIANTS))
    assert len(variant_jobs) == 27  # stitched_native also trains the full S-I patch
    jobs = [job for job in variant_jobs if job.configuration in ("2d", "3d_fullres")]
    assert len(jobs) == 24
    return settings, work, jobs


def _calls(records):
    path = records / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def _submitted(folder, n):
    """The pickled (function, args, kwargs) of tasks 0..n-1 of the fake array job."""
    out = []
    for task in range(n):
        with open(folder / f"{JOB_ID}_{task}_submitted.pkl", "rb") as handle:
            delayed = pickle.load(handle)
        out.append((delayed.function, delayed.args, delayed.kwargs))
    return out


def test_paper_grid_goes_to_slurm_as_one_array_of_24_tasks(fake_slurm, paper_jobs):
    settings, work, jobs = paper_jobs
    folder = work / "slurm"
    submitted = submit(jobs, slurm_executor(settings, folder))
    assert [job.job_id for job in submitted] == [f"{JOB_ID}_{i}" for i in range(24)]
    calls = _calls(fake_slurm)
    assert len(calls) == 1 and calls[0].endswith(".sh")
    script = (fake_slurm / "script_1.sh").read_text()
    directives = set(re.findall(r"^#SBATCH (\S+)$", script, flags=re.MULTILINE))
    assert {"--array=0-23%24", "--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=16", "--mem=64GB",
            "--time=2880", "--nodes=1", "--ntasks-per-node=1", "--job-name=sclesion-nnunet"} <= directives
    assert f"{sys.executable} -u -m submitit.core._submit {folder}" in script
    tasks = _submitted(folder, 24)
    assert not (folder / f"{JOB_ID}_24_submitted.pkl").exists()
    assert [args for _, args, _ in tasks] == [(job,) for job in jobs]
    assert all(function is run_job and kwargs == {} for function, _, kwargs in tasks)
    order = [(job.dataset, job.configuration, job.fold) for (job,) in (args for _, args, _ in tasks)]
    assert order == [(v, c, f) for v in VARIANTS for c in ("2d", "3d_fullres") for f in (0, 1, 2)]
    for (job,) in (args for _, args, _ in tasks):
        assert (job.epochs, job.iterations_per_epoch, job.val_iterations_per_epoch) == (1000, 250, 50)
        assert (job.trainer, job.plans, job.device) == (BASE, "nnUNetPlans", "cuda")
        assert job.model_dir.name == f"{BASE}__nnUNetPlans__{job.configuration}"
        assert job.work_dir == str(work.resolve())


def test_a_finished_fold_is_left_out_of_the_array(fake_slurm, paper_jobs):
    settings, work, jobs = paper_jobs
    finished = jobs[5]  # chunks_native 3d_fullres fold 2
    finished.fold_dir.mkdir(parents=True)
    (finished.fold_dir / "checkpoint_final.pth").write_bytes(b"")
    write_record(finished.fold_dir, finished.schedule)
    folder = work / "slurm"
    submitted = submit(jobs, slurm_executor(settings, folder))
    assert len(submitted) == 23 and len(_calls(fake_slurm)) == 1
    assert "#SBATCH --array=0-22%23" in (fake_slurm / "script_1.sh").read_text().splitlines()
    sent = [args[0] for _, args, _ in _submitted(folder, 23)]
    assert sent == jobs[:5] + jobs[6:]


def test_nothing_is_submitted_when_every_fold_is_finished(fake_slurm, paper_jobs):
    settings, work, jobs = paper_jobs
    for job in jobs[:3]:
        job.fold_dir.mkdir(parents=True)
        (job.fold_dir / "checkpoint_final.pth").write_bytes(b"")
        write_record(job.fold_dir, job.schedule)
    assert submit(jobs[:3], slurm_executor(settings, work / "slurm")) == []
    assert _calls(fake_slurm) == []
