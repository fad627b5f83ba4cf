"""The experiment grid of a profile: dataset x configuration x fold, prepared, trained and predicted.

``nnunet_grid`` in the profile lists, per dataset, the configurations to train; ``nnunet_folds`` the folds.
The paper's grid is the four variants x {2d, 3d_fullres} x folds 0-2 (24 models) plus the two-site 2d
model; the demo trains fold 0 only, on a small network.

Executors
---------
``local``
    The jobs run in fresh processes (:func:`run_local`), ``nnunet_parallel_jobs`` at a time (one after the
    other by default), under a tqdm progress bar. On a small CPU machine two trainings with one torch thread
    each finish sooner than the same two one after the other with two threads: a small network's 2d step hardly
    uses a second thread.
    Finished folds (``checkpoint_final.pth`` present, trained with the profile's schedule) are skipped, so an
    interrupted grid resumes where it stopped; an interrupted fold restarts from its first epoch.
``slurm``
    The unfinished jobs are submitted as one SLURM job array through submitit (:func:`submit`), with the
    partition, GPUs, CPUs, memory and time of the profile's ``nnunet_slurm_*`` keys; each array task runs
    :func:`sclesion.nnunet.jobs.run_job`, exactly what the local executor runs. Conversion and
    planning are done first, locally (:func:`prepare`).

Predictions of the test sets (:func:`predict_grid`; ``nnunet_parallel_jobs`` test sets at a time, in worker
processes) go to
``<work_dir>/nnunet/predictions/<dataset>/<model>/fold_<k>/<site>/{labelmaps,masks}`` and are listed in
``<work_dir>/nnunet/predictions/index.tsv`` (:data:`INDEX_COLUMNS`), which later chapters read.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.core.workers import process_pool
from sclesion.nnunet.convert import convert_dataset, read_cases
from sclesion.nnunet.datasets import NnunetFolders, dataset_spec
from sclesion.nnunet.preprocess import plan
from sclesion.nnunet.predict import predict_files
from sclesion.nnunet.settings import NnunetSettings
from sclesion.nnunet.jobs import TrainJob, run_job
from sclesion.preprocessing.variants import VARIANTS, build_variants, variant_root

#: Columns of the prediction index.
INDEX_COLUMNS: list[str] = [
    "dataset", "variant", "configuration", "fold", "site", "n_images", "labelmaps", "masks", "reference_root",
]


def grid_jobs(settings: NnunetSettings, work_dir: str | Path, datasets: list[str] | None = None) -> list[TrainJob]:
    """The training jobs of the grid, in profile order (dataset, configuration, fold).

    Parameters
    ----------
    settings : NnunetSettings
    work_dir : str or Path
    datasets : list of str, optional
        Keep only these datasets (keys or ids); default all of the grid.

    Raises
    ------
    InputError
        If a requested dataset is not in the grid.
    """
    keys = list(settings.grid)
    if datasets:
        wanted = [dataset_spec(d).key for d in datasets]
        missing = [k for k in wanted if k not in settings.grid]
        if missing:
            raise InputError(f"dataset(s) {', '.join(missing)} not in nnunet_grid ({', '.join(keys)})")
        keys = [k for k in keys if k in wanted]
    return [TrainJob.from_settings(settings, work_dir, key, configuration, fold)
            for key in keys for configuration in settings.grid[key] for fold in settings.folds]


def prepare(settings: NnunetSettings, bids_root: str | Path, work_dir: str | Path, split: pd.DataFrame,
            datasets: list[str] | None = None, n_jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """Build the dataset variants the grid needs, then convert and plan every dataset of the grid (every step
    skips finished work). Images whose straightening failed are left out of their variant, one printed line each.

    Returns
    -------
    pandas.DataFrame
        One row per dataset: ``dataset``, ``name``, ``variant``, ``n_training``, ``n_test``, ``plans``.
    """
    keys = sorted({job.dataset for job in grid_jobs(settings, work_dir, datasets)}, key=list(settings.grid).index)
    needed = tuple(v for v in VARIANTS if v != "chunks_native" and any(dataset_spec(k).variant == v for k in keys))
    if needed:
        built = build_variants(bids_root, work_dir, variants=needed, n_jobs=n_jobs, progress=progress)
        for row in built[built["status"].str.startswith("failed")].itertuples(index=False):
            tqdm.write(f"left out of {row.variant}: {row.participant_id} {row.session} chunk {row.chunk}: {row.status}")

    def convert_and_plan(key: str) -> dict:
        spec = dataset_spec(key)
        cases = convert_dataset(spec, bids_root, work_dir, split, n_jobs=n_jobs, progress=False)
        plans = plan(spec, work_dir, settings)
        n_train = int((cases["subset"] == "imagesTr").sum())
        return {"dataset": key, "name": spec.name, "variant": spec.variant, "n_training": n_train,
                "n_test": len(cases) - n_train, "plans": plans}

    # Side by side, as the trainings: the serial parts of one dataset's conversion and planning overlap another's.
    with tqdm(total=len(keys), desc="converting and planning", unit="dataset", disable=not progress) as bar:
        rows = _side_by_side([functools.partial(convert_and_plan, key) for key in keys], settings.parallel_jobs, bar)
    return pd.DataFrame(rows)


def _side_by_side(calls: list, parallel: int, bar) -> list:
    """Call the argument-less functions ``calls``, ``parallel`` at a time in threads, starting them in list order.

    Returns their results in list order and ticks ``bar`` once per call. The first exception is raised once the
    calls already running have ended; the calls not started by then are not run.
    """
    results: dict[int, object] = {}
    failure = None
    with ThreadPoolExecutor(max_workers=max(1, int(parallel))) as pool:
        futures = {pool.submit(call): i for i, call in enumerate(calls)}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as err:  # raised below, once the running calls have ended
                failure = failure or err
                for other in futures:
                    other.cancel()
            bar.update()
    if failure is not None:
        raise failure
    return [results[i] for i in range(len(calls))]


def run_local(jobs: list[TrainJob], progress: bool = True, parallel: int = 1) -> pd.DataFrame:
    """Run training jobs, ``parallel`` at a time, each in its own process; finished folds are skipped.

    Parameters
    ----------
    jobs : list of TrainJob
    progress : bool, default True
    parallel : int, default 1
        Jobs running side by side (``nnunet_parallel_jobs``); each uses the job's own torch threads.

    Returns
    -------
    pandas.DataFrame
        ``job``, ``status`` (``done`` = was already finished, ``trained``), ``seconds``, in the order of ``jobs``.

    Raises
    ------
    sclesion.nnunet.environment.NnunetStepError
        For the first failing job, once the jobs already running have ended (the finished ones stay; rerun to
        resume).
    """
    def timed(job: TrainJob) -> dict:
        start = time.perf_counter()
        status = run_job(job)
        return {"job": job.label, "status": status, "seconds": round(time.perf_counter() - start, 1)}

    # Side by side, the longest (3d) jobs start first, so that the short ones fill the gaps at the end.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].configuration == "2d") if parallel > 1 else range(len(jobs))
    # Threads only wait for the training processes; the pool's threads start them, so they outlive them.
    with tqdm(total=len(jobs), desc="training", unit="model", disable=not progress) as bar:
        done = _side_by_side([functools.partial(timed, jobs[i]) for i in order], parallel, bar)
    rows = dict(zip(order, done))
    return pd.DataFrame([rows[i] for i in range(len(jobs))], columns=["job", "status", "seconds"])


def slurm_executor(settings: NnunetSettings, folder: str | Path, name: str = "sclesion-nnunet"):
    """A submitit executor for SLURM with the profile's resources per job (one fold per array task)."""
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    slurm = settings.slurm
    executor.update_parameters(
        name=name, timeout_min=int(slurm.time_min), mem_gb=int(slurm.mem_gb), gpus_per_node=int(slurm.gpus),
        cpus_per_task=int(slurm.cpus), tasks_per_node=1, nodes=1, slurm_partition=slurm.partition,
    )
    return executor


def submit(jobs: list[TrainJob], executor) -> list:
    """Submit the unfinished jobs through a submitit executor (one array for several jobs); return its jobs.

    Works with any submitit executor: ``slurm_executor`` on a cluster, ``submitit.DebugExecutor`` or
    ``submitit.LocalExecutor`` elsewhere. Each task runs :func:`sclesion.nnunet.jobs.run_job`.
    """
    pending = [job for job in jobs if not job.done]
    if not pending:
        return []
    return executor.map_array(run_job, pending)


def _test_sets(cases: pd.DataFrame) -> list[str]:
    return sorted(s for s in cases["subset"].unique() if s.startswith("imagesTs_"))


def predict_grid(settings: NnunetSettings, bids_root: str | Path, work_dir: str | Path,
                 datasets: list[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Predict the test sets of every trained grid model, one fold at a time (paper: one point per image per
    fold); write and return the prediction index (module docstring). Existing outputs are kept.

    Every model predicts the TUM test set; the other sites' test sets are predicted by the models of
    ``nnunet_unseen_site_models`` (:meth:`NnunetSettings.predicts`). Straightened datasets are predicted in
    straight space and warped back to the native image of each case (see :mod:`sclesion.nnunet.predict`);
    ``reference_root`` names the tree holding the matching references. With ``nnunet_parallel_jobs`` > 1 the test
    sets are predicted that many at a time in worker processes (``nnunet_threads`` torch threads each).

    Raises
    ------
    InputError
        If a model of the grid is not trained yet.
    """
    folders = NnunetFolders(Path(work_dir))
    rows, tasks = [], []
    for job in grid_jobs(settings, work_dir, datasets):
        if not job.done:
            raise InputError(f"{job.label} is not trained yet with this profile's schedule (no checkpoint_final.pth"
                             f" with a matching sclesion_training.json)", job.fold_dir)
        spec = dataset_spec(job.dataset)
        cases = read_cases(folders.raw / spec.name)
        native_variant = spec.variant.replace("straightened", "native")
        for subset in _test_sets(cases):
            site = subset.removeprefix("imagesTs_")
            if not settings.predicts(job.dataset, job.configuration, site):
                continue
            part = cases[cases["subset"] == subset]
            out = folders.predictions / spec.name / job.model_dir.name / f"fold_{job.fold}" / site
            straight = spec.straightened
            tasks.append((job.configuration, {
                "model_dir": str(job.model_dir), "images": [str(p) for p in part["image"]], "out_dir": str(out),
                "folds": [job.fold], "device": settings.device, "threads": settings.threads,
                "tile_batch": settings.tile_batch, "tile_step": settings.tile_step,
                "inverse_fields": [str(p) for p in part["inverse_field"]] if straight else None,
                "native_images": [str(p) for p in part["native_reference"]] if straight else None,
            }))
            rows.append({
                "dataset": job.dataset, "variant": spec.variant, "configuration": job.configuration,
                "fold": job.fold, "site": site, "n_images": len(part), "labelmaps": out / "labelmaps",
                "masks": out / "masks",
                "reference_root": variant_root(native_variant, bids_root, work_dir).resolve(),
            })
    _predict_test_sets(tasks, settings.parallel_jobs, progress)
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    path = folders.predictions / "index.tsv"
    if path.is_file():  # keep the rows of models not predicted in this call
        old = read_index(work_dir)
        key = ["dataset", "configuration", "fold", "site"]
        old = old[~old.set_index(key).index.isin(index.set_index(key).index)]
        index = pd.concat([old, index], ignore_index=True).sort_values(key, kind="stable").reset_index(drop=True)
    write_text(index.to_csv(sep="\t", index=False, lineterminator="\n"), path)
    return index


def _predict_test_sets(tasks: list[tuple[str, dict]], parallel: int, progress: bool) -> None:
    """Run :func:`sclesion.nnunet.predict.predict_files` on each ``(configuration, keyword arguments)`` task: in
    this process (each with its own progress bar) or ``parallel`` at a time in worker processes that die with this
    one (one bar over the test sets). Side by side, the 3d models go first and, within each kind, the test sets
    with the most data to read (bytes on disk of the images and, for a straightened set, of the fields that warp
    its predictions back), so that small ones fill the gaps at the end."""
    if parallel <= 1:
        for _, task in tasks:
            predict_files(**task, progress=progress)
        return
    def size(task: dict) -> int:
        return sum(Path(p).stat().st_size for p in task["images"] + (task.get("inverse_fields") or []))

    order = sorted(tasks, key=lambda task: (task[0] == "2d", -size(task[1])))
    with process_pool(parallel, context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(predict_files, **task, progress=False) for _, task in order]
        for future in tqdm(as_completed(futures), total=len(futures), desc="predicting test sets", unit="set",
                           disable=not progress):
            future.result()


def read_index(work_dir: str | Path) -> pd.DataFrame:
    """Read ``<work_dir>/nnunet/predictions/index.tsv`` (paths as :class:`~pathlib.Path`).

    Raises
    ------
    InputError
        If there is no index yet (predict the grid first).
    """
    path = NnunetFolders(Path(work_dir)).predictions / "index.tsv"
    if not path.is_file():
        raise InputError("no prediction index; train and predict the grid first (sclesion train, notebook 04)", path)
    index = pd.read_csv(path, sep="\t", dtype={"fold": int, "n_images": int, "site": str})
    for column in ("labelmaps", "masks", "reference_root"):
        index[column] = [Path(v) for v in index[column]]
    return index
