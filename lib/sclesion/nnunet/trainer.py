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
* the learning-rate schedule object: nnU-Net 2.5.2's ``PolyLRScheduler`` passes an argument that torch
  2.13 no longer accepts, so :class:`PolyLR` applies the same polynomial decay,
  ``lr = initial_lr * (1 - epoch / num_epochs) ** 0.9``, set at the start of every epoch, with nnU-Net's
  SGD (momentum 0.99, Nesterov, weight decay 3e-5).

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
from dataclasses import asdict, dataclass
from pathlib import Path

from sclesion.core.atomic import write_text

#: nnU-Net's default schedule (epochs, iterations per epoch, validation iterations per epoch).
DEFAULT_SCHEDULE = (1000, 250, 50)
#: nnU-Net's default share of each batch centred on a foreground voxel.
DEFAULT_OVERSAMPLE = 0.33
#: nnU-Net's default initial learning rate.
DEFAULT_LEARNING_RATE = 1e-2


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
    """

    trainer: str
    epochs: int = DEFAULT_SCHEDULE[0]
    iterations_per_epoch: int = DEFAULT_SCHEDULE[1]
    val_iterations_per_epoch: int = DEFAULT_SCHEDULE[2]
    oversample_foreground: float = DEFAULT_OVERSAMPLE
    learning_rate: float = DEFAULT_LEARNING_RATE


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
        If nnU-Net has no trainer called ``schedule.trainer``.
    """
    import nnunetv2
    import torch
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

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

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                    momentum=0.99, nesterov=True)
        return optimizer, PolyLR(optimizer, self.initial_lr, self.num_epochs)

    return type(base, (parent,), {"__init__": __init__, "configure_optimizers": configure_optimizers,
                                  "__module__": __name__, "__doc__": f"{base} with the profile's schedule."})
