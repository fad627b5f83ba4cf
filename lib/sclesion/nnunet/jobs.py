"""One training job: a dataset, a configuration and a fold, trained with the study's trainer.

Folds are subject-level
-----------------------
nnU-Net's default ``splits_final.json`` is a 5-fold split over *cases*; with several sessions and chunks per
subject that puts images of one subject on both sides of a fold. Before the first training of a dataset we
write our own ``splits_final.json`` (nnU-Net uses an existing one as is): the training subjects, sorted and
shuffled with seed 12345 (nnU-Net's), dealt round-robin into ``nnunet_n_folds`` groups; fold ``k`` validates on
the images of group ``k`` and trains on the others. A split file that differs from ours is refused.

Where models go, and resume
---------------------------
Models are saved where ``nnUNetv2_train`` would save them, under the base trainer's name
(``<nnUNet_results>/<dataset>/nnUNetTrainerDiceCELoss_noSmooth__<plans>__<configuration>``), so that nnU-Net's
own tools load them; the schedule is recorded in ``fold_<k>/sclesion_training.json``
(:mod:`sclesion.nnunet.trainer`), written after ``checkpoint_final.pth``. A fold is finished when both exist
and the recorded schedule is the profile's; :func:`run_job` then does nothing. Any other fold folder (an
interrupted run, or a model trained with another schedule) is deleted and the fold trained again from the
start, so neither a stale log or checkpoint is mixed into the new one nor a model trained otherwise is
reported as the profile's.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.nnunet.convert import read_cases
from sclesion.nnunet.datasets import NnunetFolders, dataset_spec
from sclesion.nnunet.environment import nnunet_environ, run_step
from sclesion.nnunet.settings import NnunetSettings
from sclesion.nnunet.trainer import Schedule, read_schedule, write_record

#: Seed of the fold assignment (nnU-Net's own seed for its default split).
FOLD_SEED = 12345


@dataclass(frozen=True)
class TrainJob:
    """Everything one training run needs; JSON-serialisable (``asdict``) so it can cross process boundaries."""

    work_dir: str
    dataset: str
    configuration: str
    fold: int
    n_folds: int
    trainer: str
    epochs: int
    iterations_per_epoch: int
    val_iterations_per_epoch: int
    oversample_foreground: float
    learning_rate: float
    lesion_oversample: float
    optimizer: str
    plans: str
    device: str
    threads: int
    n_proc: int
    n_proc_da: int
    validate: bool

    @classmethod
    def from_settings(cls, settings: NnunetSettings, work_dir: str | Path, dataset: str, configuration: str,
                      fold: int) -> TrainJob:
        """The job of one grid cell."""
        return cls(
            work_dir=str(Path(work_dir).resolve()), dataset=dataset_spec(dataset).key, configuration=configuration,
            fold=int(fold), n_folds=settings.n_folds, trainer=settings.trainer,
            epochs=settings.epochs_of(configuration),
            iterations_per_epoch=settings.iterations_per_epoch,
            val_iterations_per_epoch=settings.val_iterations_per_epoch,
            oversample_foreground=settings.oversample_foreground,
            learning_rate=settings.learning_rate_of(configuration),
            lesion_oversample=settings.lesion_share(configuration), optimizer=settings.optimizer_of(configuration),
            plans=settings.plans,
            device=settings.device, threads=settings.threads, n_proc=settings.n_proc, n_proc_da=settings.n_proc_da,
            validate=settings.validate,
        )

    @property
    def schedule(self) -> Schedule:
        """The trainer and schedule of the job (recorded in the fold folder once trained)."""
        return Schedule(self.trainer, self.epochs, self.iterations_per_epoch, self.val_iterations_per_epoch,
                        self.oversample_foreground, self.learning_rate, self.lesion_oversample, self.optimizer)

    @property
    def model_dir(self) -> Path:
        """``<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>`` (nnU-Net's layout and names)."""
        name = dataset_spec(self.dataset).name
        return NnunetFolders(Path(self.work_dir)).results / name / f"{self.trainer}__{self.plans}__{self.configuration}"

    @property
    def fold_dir(self) -> Path:
        return self.model_dir / f"fold_{self.fold}"

    @property
    def done(self) -> bool:
        """True when the fold's ``checkpoint_final.pth`` exists and its recorded schedule is the job's."""
        return (self.fold_dir / "checkpoint_final.pth").is_file() and read_schedule(self.fold_dir) == self.schedule

    @property
    def label(self) -> str:
        """Short description, e.g. ``chunks_native 2d fold 0``."""
        return f"{self.dataset} {self.configuration} fold {self.fold}"


def subject_folds(cases: pd.DataFrame, n_folds: int, seed: int = FOLD_SEED) -> list[dict[str, list[str]]]:
    """Subject-level cross-validation folds in nnU-Net's ``splits_final.json`` format.

    Parameters
    ----------
    cases : pandas.DataFrame
        Case table of the dataset (:func:`sclesion.nnunet.convert.read_cases`); its ``imagesTr`` rows are used.
    n_folds : int
        Number of folds (at most the number of training subjects).
    seed : int
        Seed of the subject shuffle.

    Returns
    -------
    list of dict
        ``[{"train": [case ids], "val": [case ids]}, ...]``, one per fold, ids sorted.

    Raises
    ------
    InputError
        If there are fewer training subjects than folds.
    """
    train = cases[cases["subset"] == "imagesTr"]
    subjects = np.array(sorted(train["participant_id"].unique()))
    if len(subjects) < n_folds:
        raise InputError(f"{len(subjects)} training subjects cannot make {n_folds} folds")
    order = subjects[np.random.default_rng(seed).permutation(len(subjects))]
    group = {subject: i % n_folds for i, subject in enumerate(order)}
    folds = []
    for k in range(n_folds):
        in_val = train["participant_id"].map(group) == k
        folds.append({"train": sorted(train.loc[~in_val, "case_id"]), "val": sorted(train.loc[in_val, "case_id"])})
    return folds


def ensure_splits(work_dir: str | Path, dataset: str, n_folds: int) -> Path:
    """Write the subject-level ``splits_final.json`` of a dataset unless an identical one exists.

    Raises
    ------
    InputError
        If a different ``splits_final.json`` is already there.
    """
    spec = dataset_spec(dataset)
    folders = NnunetFolders(Path(work_dir))
    folds = subject_folds(read_cases(folders.raw / spec.name), n_folds)
    path = folders.preprocessed / spec.name / "splits_final.json"
    if path.is_file():
        if json.loads(path.read_text()) != folds:
            raise InputError("differs from the subject-level folds of the study; remove it to use ours", path)
        return path
    return write_text(json.dumps(folds, indent=2) + "\n", path)


def train_in_process(**fields) -> None:
    """Train one fold in this process (needs nnU-Net's environment variables); see :func:`run_job`."""
    import torch

    from sclesion.nnunet.trainer import trainer_class

    job = TrainJob(**fields)
    torch.set_num_threads(job.threads)
    seed = FOLD_SEED + job.fold  # same job, same sampling and initial weights (data augmentation in process)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    folder = NnunetFolders(Path(job.work_dir)).preprocessed / dataset_spec(job.dataset).name
    plans = json.loads((folder / f"{job.plans}.json").read_text())
    dataset_json = json.loads((folder / "dataset.json").read_text())
    trainer = trainer_class(job.schedule)(plans, job.configuration, job.fold, dataset_json,
                                          device=torch.device(job.device))
    trainer.run_training()
    if job.validate:
        trainer.perform_actual_validation(False)
    write_record(job.fold_dir, job.schedule, seed=seed, plans=job.plans, configuration=job.configuration,
                 n_folds=job.n_folds)


def run_job(job: TrainJob) -> str:
    """Train one fold in a fresh process unless it is finished with the job's schedule; return ``"done"`` or
    ``"trained"``.

    The dataset must be converted and planned. The child's output goes to
    ``<work_dir>/nnunet/logs/train_<dataset>_<configuration>_fold<k>.log``.

    Raises
    ------
    sclesion.nnunet.environment.NnunetStepError
        If training fails (the message quotes the log).
    """
    if job.done:
        return "done"
    if job.fold_dir.exists():
        shutil.rmtree(job.fold_dir)
    ensure_splits(job.work_dir, job.dataset, job.n_folds)
    environ = nnunet_environ(job.work_dir, threads=job.threads, n_proc=job.n_proc, n_proc_da=job.n_proc_da)
    log = NnunetFolders(Path(job.work_dir)).logs / f"train_{job.dataset}_{job.configuration}_fold{job.fold}.log"
    run_step("sclesion.nnunet.jobs:train_in_process", asdict(job), environ, log)
    return "trained"
