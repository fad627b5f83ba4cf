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

Naming: with nnU-Net's defaults the class keeps the base name, so trained models sit where
``nnUNetv2_train`` would put them; otherwise the name records what differs, e.g.
``nnUNetTrainerDiceCELoss_noSmooth_12epochs_30it_5vit_fg100_lr0p03``, and models trained differently never mix.
"""

from __future__ import annotations

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


def trainer_name(base: str, epochs: int, iterations: int, val_iterations: int,
                 oversample: float = DEFAULT_OVERSAMPLE, learning_rate: float = DEFAULT_LEARNING_RATE) -> str:
    """Class name of the study's trainer (see the module docstring)."""
    name = base
    if (epochs, iterations, val_iterations) != DEFAULT_SCHEDULE:
        name += f"_{epochs}epochs_{iterations}it_{val_iterations}vit"
    if oversample != DEFAULT_OVERSAMPLE:
        name += f"_fg{round(100 * oversample)}"
    if learning_rate != DEFAULT_LEARNING_RATE:
        name += "_lr" + f"{learning_rate:g}".replace(".", "p")
    return name


def trainer_class(base: str, epochs: int, iterations: int, val_iterations: int,
                  oversample: float = DEFAULT_OVERSAMPLE, learning_rate: float = DEFAULT_LEARNING_RATE) -> type:
    """The study's trainer class, derived from the nnU-Net trainer called ``base``.

    Parameters
    ----------
    base : str
        A trainer shipped with nnU-Net, e.g. ``"nnUNetTrainerDiceCELoss_noSmooth"``.
    epochs, iterations, val_iterations : int
        The schedule.
    oversample : float, default 0.33 (nnU-Net's)
        Share of each batch centred on a voxel of a foreground class or region chosen at random (nnU-Net's
        ``oversample_foreground_percent``).
    learning_rate : float, default 0.01 (nnU-Net's)
        Initial learning rate of the polynomial schedule.

    Raises
    ------
    ValueError
        If nnU-Net has no trainer called ``base``.
    """
    import nnunetv2
    import torch
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    parent = recursive_find_python_class(f"{nnunetv2.__path__[0]}/training/nnUNetTrainer", base,
                                         "nnunetv2.training.nnUNetTrainer")
    if parent is None:
        raise ValueError(f"nnU-Net has no trainer class {base!r}")

    # nnU-Net records the constructor's arguments by introspecting its signature: keep it identical.
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, unpack_dataset: bool = True,
                 device: torch.device = torch.device("cuda")):
        parent.__init__(self, plans, configuration, fold, dataset_json, unpack_dataset, device)
        self.num_epochs = epochs
        self.num_iterations_per_epoch = iterations
        self.num_val_iterations_per_epoch = val_iterations
        self.oversample_foreground_percent = oversample
        self.initial_lr = learning_rate

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                    momentum=0.99, nesterov=True)
        return optimizer, PolyLR(optimizer, self.initial_lr, self.num_epochs)

    name = trainer_name(base, epochs, iterations, val_iterations, oversample, learning_rate)
    return type(name, (parent,), {"__init__": __init__, "configure_optimizers": configure_optimizers,
                                  "__module__": __name__, "__doc__": f"{base} with the profile's schedule."})
