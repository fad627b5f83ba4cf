"""nnU-Net's fingerprint, plans and preprocessing for one dataset, sized for small machines.

One call of :func:`plan` runs, in a fresh process (:func:`sclesion.nnunet.environment.run_step`) whose
nnU-Net worker pools fork it (:func:`_fork_worker_pools`):

1. the dataset fingerprint (``nnUNetv2_extract_fingerprint``), with ``nnunet_n_proc`` workers;
2. the default experiment planner (``nnUNetv2_plan_experiment``; the paper used the default planner), whose
   ``nnUNetPlans.json`` then gets the full superior-inferior patch configuration
   (:data:`~sclesion.nnunet.plans.FULL_SI`, inheriting from ``3d_fullres``);
3. preprocessing (``nnUNetv2_preprocess``) of the data the grid trains on, one configuration at a time;

then, in the calling process, for a small-network profile, a copy of the plans with a smaller U-Net
(:func:`~sclesion.nnunet.plans.small_network`), saved as ``<nnunet_plans>.json`` beside nnU-Net's plans.

Every step is skipped when its output is complete (the fingerprint file, plans holding the full S-I
configuration, a ``sclesion_preprocessed.json`` marker written after each preprocessed folder), so reruns
cost nothing and an interrupted run resumes; the child process is skipped when nothing is left to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.nnunet.datasets import DatasetSpec, NnunetFolders
from sclesion.nnunet.environment import nnunet_environ, run_step
from sclesion.nnunet.plans import FULL_SI, load_plans, resolve_configuration, small_network, with_full_si
from sclesion.nnunet.settings import DEFAULT_PLANS, NnunetSettings

#: Marker written into a preprocessed data folder once nnU-Net has filled it.
PREPROCESSED_MARKER = "sclesion_preprocessed.json"


def plans_path(work_dir: str | Path, spec: DatasetSpec, plans_name: str = DEFAULT_PLANS) -> Path:
    """Path of a dataset's plans file (``<nnUNet_preprocessed>/<dataset>/<plans_name>.json``)."""
    return NnunetFolders(Path(work_dir)).preprocessed / spec.name / f"{plans_name}.json"


def _data_identifiers(plans: dict, configurations: list[str]) -> list[str]:
    """Preprocessed-data folders the configurations read (inheriting configurations share their parent's)."""
    names = []
    for configuration in configurations:
        identifier = resolve_configuration(plans, configuration)["data_identifier"]
        if identifier not in names:
            names.append(identifier)
    return names


def _base_configuration(plans: dict, identifier: str) -> str:
    """The configuration without ``inherits_from`` that owns a data identifier (what nnU-Net preprocesses)."""
    return next(name for name, config in plans["configurations"].items()
                if "inherits_from" not in config and config.get("data_identifier") == identifier)


def planning_done(folder: Path, configurations: list[str]) -> bool:
    """True when the fingerprint, the plans (with :data:`FULL_SI`) and the needed preprocessed data exist."""
    plans_file = folder / f"{DEFAULT_PLANS}.json"
    if not (folder / "dataset_fingerprint.json").is_file() or not plans_file.is_file():
        return False
    plans = load_plans(plans_file)
    if FULL_SI not in plans["configurations"]:
        return False
    return all((folder / name / PREPROCESSED_MARKER).is_file() for name in _data_identifiers(plans, configurations))


def plan_in_process(dataset_id: int, dataset_name: str, configurations: list[str], n_proc: int) -> None:
    """The planning steps (module docstring), in this process; needs nnU-Net's environment variables set.

    Called by :func:`plan` in a child process; use :func:`plan` instead.
    """
    _fork_worker_pools()
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset, plan_experiment_dataset, preprocess_dataset,
    )

    folder = Path(os.environ["nnUNet_preprocessed"]) / dataset_name
    fingerprint_file = folder / "dataset_fingerprint.json"
    plans_file = folder / f"{DEFAULT_PLANS}.json"
    if not fingerprint_file.is_file():
        extract_fingerprint_dataset(dataset_id, num_processes=n_proc, check_dataset_integrity=False, clean=True,
                                    verbose=False)
    if not plans_file.is_file():
        plan_experiment_dataset(dataset_id)
    plans = load_plans(plans_file)
    if FULL_SI not in plans["configurations"]:
        plans = with_full_si(plans, json.loads(fingerprint_file.read_text()))
        write_text(json.dumps(plans, indent=4) + "\n", plans_file)
    for identifier in _data_identifiers(plans, configurations):
        marker = folder / identifier / PREPROCESSED_MARKER
        if marker.is_file():
            continue
        configuration = _base_configuration(plans, identifier)
        preprocess_dataset(dataset_id, DEFAULT_PLANS, [configuration], [n_proc], verbose=False)
        write_text(json.dumps({"configuration": configuration}) + "\n", marker)


def _fork_worker_pools() -> None:
    """On Linux, make nnU-Net's fingerprint and preprocessing pools fork this process instead of spawning one.

    nnU-Net starts both pools with ``multiprocessing.get_context("spawn")``, so every worker imports torch and
    nnU-Net again: about 5 s per pool on 2 cores, a third of a small dataset's planning (Dataset902 of the demo:
    35 s forked against 50 s spawned, with identical fingerprint, plans and preprocessed arrays). Forking is safe
    here because :func:`plan_in_process` runs alone in a fresh process (:func:`plan`) that has run no torch
    operation, so no thread pool exists to be copied half-way; the change stays inside that process.
    """
    import multiprocessing
    import sys

    if sys.platform != "linux":
        return
    original = multiprocessing.get_context

    def get_context(method=None):
        return original("fork" if method == "spawn" else method)

    multiprocessing.get_context = get_context


def plan(spec: DatasetSpec, work_dir: str | Path, settings: NnunetSettings,
         configurations: tuple[str, ...] | None = None) -> Path:
    """Fingerprint, plan and preprocess one converted dataset; return the plans file training will use.

    Parameters
    ----------
    spec : DatasetSpec
        A dataset already converted (:func:`sclesion.nnunet.convert.convert_dataset`).
    work_dir : str or Path
        The work folder (nnU-Net's folders are under ``<work_dir>/nnunet``).
    settings : NnunetSettings
        Worker counts, plans name and small-network sizes.
    configurations : tuple of str, optional
        Configurations whose data to preprocess; default: those the grid trains for this dataset (2d and
        3d_fullres when the dataset is not in the grid).

    Returns
    -------
    Path
        ``<nnUNet_preprocessed>/<dataset>/<settings.plans>.json``.

    Raises
    ------
    sclesion.nnunet.environment.NnunetStepError
        If nnU-Net fails (the message quotes the log ``<work_dir>/nnunet/logs/plan_<dataset>.log``).
    """
    folders = NnunetFolders(Path(work_dir))
    configurations = list(configurations or settings.grid.get(spec.key, ("2d", "3d_fullres")))
    if not planning_done(folders.preprocessed / spec.name, configurations):
        environ = nnunet_environ(work_dir, threads=settings.threads, n_proc=settings.n_proc,
                                 n_proc_da=max(1, settings.n_proc_da))
        kwargs = {"dataset_id": spec.dataset_id, "dataset_name": spec.name, "configurations": configurations,
                  "n_proc": settings.n_proc}
        run_step("sclesion.nnunet.preprocess:plan_in_process", kwargs, environ, folders.logs / f"plan_{spec.name}.log")
    if settings.small_network is not None:
        write_small_plans(work_dir, spec, settings.small_network)
    return plans_path(work_dir, spec, settings.plans)


def write_small_plans(work_dir: str | Path, spec: DatasetSpec, small: dict) -> Path:
    """Write (or keep) the small-network copy of a dataset's plans; return its path.

    Raises
    ------
    InputError
        If the copy exists with other sizes while models trained with it exist (they would no longer match).
    """
    folders = NnunetFolders(Path(work_dir))
    plans = small_network(load_plans(plans_path(work_dir, spec)), **small)
    path = plans_path(work_dir, spec, small["plans_name"])
    if path.is_file() and load_plans(path) == plans:
        return path
    trained = sorted((folders.results / spec.name).glob(f"*__{small['plans_name']}__*"))
    if path.is_file() and trained:
        raise InputError(f"the small-network sizes changed but {trained[0]} was trained with the old plans; "
                         "remove the trained models or choose another nnunet_plans name", path)
    return write_text(json.dumps(plans, indent=4) + "\n", path)
