"""The study's nnU-Net trainer: a trainer shipped with nnU-Net, with the schedule taken from the profile.

Why our own class, and how nnU-Net gets to use it
-------------------------------------------------
``nnUNetv2_train`` looks trainer classes up by name inside the installed ``nnunetv2`` package only, so a
trainer defined elsewhere would have to be copied into site-packages. We never edit installed files; instead
:mod:`sclesion.nnunet.jobs` instantiates the class returned by :func:`trainer_class` directly through
nnU-Net's Python API (``trainer = cls(plans, configuration, fold, dataset_json, device=...)`` then
``trainer.run_training()``), exactly what ``nnUNetv2_train`` does after its lookup. Prediction does not need
the class either (:mod:`sclesion.nnunet.predict` rebuilds the network from the plans).

What the class changes, and nothing else:

* the schedule: ``num_epochs``, ``num_iterations_per_epoch``, ``num_val_iterations_per_epoch`` from the
  profile (paper: 1000, 250, 50, nnU-Net's defaults);
* the share of foreground-centred samples, ``oversample_foreground_percent`` (paper: nnU-Net's 0.33; the
  CPU demo raises it so that its few iterations see the small lesions more often);
* the initial learning rate (paper: nnU-Net's 0.01; the demo's short schedule starts higher);
* the optimizer (:data:`OPTIMIZERS`): nnU-Net's SGD (paper), or the AdamW of nnU-Net's own
  ``nnUNetTrainerAdam`` variant (weight decay 3e-5, AMSGrad). On the CPU demo's short schedule SGD leaves the
  3d_fullres lesion output stuck at "no lesion" for most of the run, where AdamW learns the lesions within a few
  epochs (chapter 04 gives the measurements);
* optionally (``lesion_oversample`` > 0; paper: 0, nnU-Net's sampling unchanged), a share of the training
  samples drawn from the cases that hold lesion voxels and centred on one of them
  (:class:`LesionOversampledCases`). nnU-Net's oversampling centres a foreground sample on a region chosen at
  random among those present in the case drawn, so with the cord region present in every case and lesions in
  few cases and few voxels, a short schedule sees too few lesions (``benchmarks/bench_training.py`` measures
  the share of patches holding lesion voxels);
* the learning-rate schedule object: nnU-Net 2.5.2's ``PolyLRScheduler`` passes an argument that torch
  2.13 no longer accepts, so :class:`PolyLR` applies the same polynomial decay,
  ``lr = initial_lr * (1 - epoch / num_epochs) ** 0.9``, set at the start of every epoch;
* ``progress.png``: nnU-Net redraws it after every epoch, a 3000 x 5400 pixel figure that takes 1.3 s on this
  CPU (a tenth of a demo epoch); the class redraws it at most every :data:`PLOT_INTERVAL_S` seconds and after the
  last epoch, so a GPU run still shows its progress and every finished fold has the whole curve.

The loss, network, data augmentation and everything else come from the base class, e.g.
``nnUNetTrainerDiceCELoss_noSmooth`` (Dice + BCE on the regions, Dice without smoothing term), the paper's.

Naming and records
------------------
The class keeps the base trainer's name (``nnUNetTrainerDiceCELoss_noSmooth``), so nnU-Net writes the model
where ``nnUNetv2_train`` would, and its checkpoints name a trainer that ships with nnU-Net: any tool built on
nnU-Net's predictor (``nnUNetv2_predict``, SCT's ``sct_deepseg``) loads the model folder as it is. Inference
needs only the plans and the weights; the schedule, which the name cannot carry, is recorded beside the
weights in ``fold_<k>/sclesion_training.json`` (:data:`RECORD_NAME`, :func:`write_record`), and a finished fold
counts as the profile's model only when its record matches the profile's schedule
(:attr:`sclesion.nnunet.jobs.TrainJob.done`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sclesion.core.atomic import write_text

#: nnU-Net's default schedule (epochs, iterations per epoch, validation iterations per epoch).
DEFAULT_SCHEDULE = (1000, 250, 50)
#: nnU-Net's default share of each batch centred on a foreground voxel.
DEFAULT_OVERSAMPLE = 0.33
#: nnU-Net's default initial learning rate.
DEFAULT_LEARNING_RATE = 1e-2
#: Optimizers a schedule may name: ``sgd`` is nnU-Net's default (momentum 0.99, Nesterov), ``adamw`` the
#: optimizer of nnU-Net's ``nnUNetTrainerAdam`` (AMSGrad); both with nnU-Net's weight decay.
OPTIMIZERS = ("sgd", "adamw")


class LesionOversampledCases:
    """nnU-Net's training cases, a share of whose draws is replaced by a lesion-centred one.

    nnU-Net's data loaders draw a case (``load_case``) and, for a foreground sample, centre the patch on a voxel
    of a region chosen at random among the case's ``properties["class_locations"]``. With probability ``share``
    each draw here returns instead a case chosen at random among those holding sampled voxels of ``region``,
    with its ``class_locations`` reduced to that region, so a foreground sample of it is centred on a lesion
    voxel (2d: on a slice holding one). The training dataset is wrapped, never changed; validation is not.
    Randomness comes from NumPy's global generator, which nnU-Net's loaders use too (seeded per training).

    Parameters
    ----------
    cases : nnunetv2.training.dataloading.nnunet_dataset.nnUNetDataset
        The training cases.
    region : int or tuple of int
        Key of the region in ``class_locations`` (the lesion region: label 2).
    share : float
        Probability, in [0, 1], that a draw is replaced by a lesion case.
    """

    def __init__(self, cases, region, share: float):
        self.cases = cases
        self.region = region
        self.share = float(share)
        self.lesion_cases = [key for key in cases.keys()
                             if len(cases.load_case(key)[2]["class_locations"].get(region, ())) > 0]

    def keys(self):
        return self.cases.keys()

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, key):
        return self.cases[key]

    def load_case(self, key):
        """``(data, seg, properties)`` of ``key``, or, with probability ``share``, of a lesion case (class docstring)."""
        import numpy as np

        if not self.lesion_cases or np.random.uniform() >= self.share:
            return self.cases.load_case(key)
        data, seg, properties = self.cases.load_case(self.lesion_cases[np.random.randint(len(self.lesion_cases))])
        return data, seg, {**properties, "class_locations": {self.region: properties["class_locations"][self.region]}}


class PolyLR:
    """Polynomial learning-rate decay, set on every parameter group of an optimizer.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    initial_lr : float
    num_epochs : int
    exponent : float, default 0.9
    """

    def __init__(self, optimizer, initial_lr: float, num_epochs: int, exponent: float = 0.9):
        self.optimizer = optimizer
        self.initial_lr = initial_lr
        self.num_epochs = num_epochs
        self.exponent = exponent
        self.step(0)

    def step(self, epoch: int) -> None:
        """Set the learning rate of epoch ``epoch`` (0-based)."""
        lr = self.initial_lr * (1 - epoch / self.num_epochs) ** self.exponent
        for group in self.optimizer.param_groups:
            group["lr"] = lr


#: Shortest time (s) between two redraws of a fold's ``progress.png`` (the last epoch always redraws it).
PLOT_INTERVAL_S = 60.0

#: File, in each fold folder, recording how the fold was trained.
RECORD_NAME = "sclesion_training.json"


@dataclass(frozen=True)
class Schedule:
    """How a fold is trained, beyond what the plans say (all recorded in :data:`RECORD_NAME`).

    Attributes
    ----------
    trainer : str
        The nnU-Net trainer the study's class derives from (and whose name it keeps).
    epochs, iterations_per_epoch, val_iterations_per_epoch : int
    oversample_foreground : float
        Share of each batch centred on foreground.
    learning_rate : float
        Initial learning rate of the polynomial decay.
    lesion_oversample : float
        Share of the training draws replaced by a lesion case, centred on a lesion voxel when the sample is a
        foreground one (:class:`LesionOversampledCases`); 0 keeps nnU-Net's sampling.
    optimizer : str
        One of :data:`OPTIMIZERS` (records written before this field existed read as ``sgd``, which they used).
    """

    trainer: str
    epochs: int = DEFAULT_SCHEDULE[0]
    iterations_per_epoch: int = DEFAULT_SCHEDULE[1]
    val_iterations_per_epoch: int = DEFAULT_SCHEDULE[2]
    oversample_foreground: float = DEFAULT_OVERSAMPLE
    learning_rate: float = DEFAULT_LEARNING_RATE
    lesion_oversample: float = 0.0
    optimizer: str = "sgd"


def write_record(fold_dir: str | Path, schedule: Schedule, **extra) -> Path:
    """Write ``fold_dir/sclesion_training.json``: the schedule and any ``extra`` facts (e.g. the seed)."""
    record = {"schedule": asdict(schedule), **extra}
    return write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", Path(fold_dir) / RECORD_NAME)


def read_schedule(fold_dir: str | Path) -> Schedule | None:
    """The schedule recorded in a fold folder, or None when there is no readable record."""
    path = Path(fold_dir) / RECORD_NAME
    try:
        return Schedule(**json.loads(path.read_text())["schedule"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def trainer_class(schedule: Schedule) -> type:
    """The study's trainer class: the nnU-Net trainer ``schedule.trainer`` with the schedule applied.

    The class has the base trainer's name (module docstring). Its ``oversample_foreground_percent`` is the
    share of each batch centred on a voxel of a foreground class or region chosen at random.

    Parameters
    ----------
    schedule : Schedule

    Raises
    ------
    ValueError
        If nnU-Net has no trainer called ``schedule.trainer``, or ``schedule.optimizer`` is not one of
        :data:`OPTIMIZERS`.
    """
    import nnunetv2
    import torch
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    if schedule.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {schedule.optimizer!r}; choose from {list(OPTIMIZERS)}")
    base = schedule.trainer
    parent = recursive_find_python_class(f"{nnunetv2.__path__[0]}/training/nnUNetTrainer", base,
                                         "nnunetv2.training.nnUNetTrainer")
    if parent is None:
        raise ValueError(f"nnU-Net has no trainer class {base!r}")

    # nnU-Net records the constructor's arguments by introspecting its signature: keep it identical.
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, unpack_dataset: bool = True,
                 device: torch.device = torch.device("cuda")):
        parent.__init__(self, plans, configuration, fold, dataset_json, unpack_dataset, device)
        self.num_epochs = schedule.epochs
        self.num_iterations_per_epoch = schedule.iterations_per_epoch
        self.num_val_iterations_per_epoch = schedule.val_iterations_per_epoch
        self.oversample_foreground_percent = schedule.oversample_foreground
        self.initial_lr = schedule.learning_rate

    def get_tr_and_val_datasets(self):
        training, validation = parent.get_tr_and_val_datasets(self)
        if schedule.lesion_oversample > 0:
            lm = self.label_manager
            last = lm.foreground_regions[-1] if lm.has_regions else lm.foreground_labels[-1]
            region = tuple(last) if isinstance(last, list) else last  # nnU-Net's class_locations keys
            training = LesionOversampledCases(training, region, schedule.lesion_oversample)
            self.print_to_log_file(f"lesion oversampling: {schedule.lesion_oversample:g} of the draws from the "
                                   f"{len(training.lesion_cases)} of {len(training)} training cases holding region "
                                   f"{region!r}")
        return training, validation

    def configure_optimizers(self):
        if schedule.optimizer == "adamw":
            optimizer = torch.optim.AdamW(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                          amsgrad=True)
        else:
            optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                        momentum=0.99, nesterov=True)
        return optimizer, PolyLR(optimizer, self.initial_lr, self.num_epochs)

    def on_epoch_end(self):
        now = time.monotonic()
        due = now - getattr(self, "_plotted_at", float("-inf")) >= PLOT_INTERVAL_S
        if due or self.current_epoch == self.num_epochs - 1:
            self._plotted_at = now
            parent.on_epoch_end(self)
            return
        self.logger.plot_progress_png = lambda folder: None  # this epoch only
        try:
            parent.on_epoch_end(self)
        finally:
            del self.logger.plot_progress_png

    return type(base, (parent,), {"__init__": __init__, "configure_optimizers": configure_optimizers,
                                  "get_tr_and_val_datasets": get_tr_and_val_datasets, "on_epoch_end": on_epoch_end,
                                  "__module__": __name__, "__doc__": f"{base} with the profile's schedule."})
