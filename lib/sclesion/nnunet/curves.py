"""Training curves of nnU-Net models, read back from the log nnU-Net stores in every checkpoint.

nnU-Net keeps, per epoch, the mean training and validation loss, the "pseudo Dice" of each region on the
validation patches (computed on patches, not on whole images, so only a progress signal), its exponential
moving average (which selects ``checkpoint_best``), the learning rate and the epoch's start and end times.
The same numbers are drawn in each fold's ``progress.png``; here they become a table and a figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sclesion.core.errors import InputError

#: Columns of :func:`training_curves`.
CURVE_COLUMNS: list[str] = [
    "epoch", "train_loss", "val_loss", "pseudo_dice_cord", "pseudo_dice_lesion", "ema_pseudo_dice",
    "learning_rate", "epoch_seconds",
]


def training_curves(fold_dir: str | Path, checkpoint: str = "checkpoint_final.pth") -> pd.DataFrame:
    """Per-epoch log of one trained fold (columns :data:`CURVE_COLUMNS`; losses are nnU-Net's, negative Dice
    included, so they go below zero).

    Raises
    ------
    InputError
        If the checkpoint is missing.
    """
    import torch

    path = Path(fold_dir) / checkpoint
    if not path.is_file():
        raise InputError("checkpoint not found; is the fold trained?", path)
    log = torch.load(path, map_location="cpu", weights_only=False)["logging"]  # our own training output
    n = len(log["train_losses"])
    regions = np.array(log["dice_per_class_or_region"][:n], dtype=float).reshape(n, -1)
    return pd.DataFrame({
        "epoch": np.arange(n),
        "train_loss": np.asarray(log["train_losses"][:n], dtype=float),
        "val_loss": np.asarray(log["val_losses"][:n], dtype=float),
        "pseudo_dice_cord": regions[:, 0],
        "pseudo_dice_lesion": regions[:, -1],
        "ema_pseudo_dice": np.asarray(log["ema_fg_dice"][:n], dtype=float),
        "learning_rate": np.asarray(log["lrs"][:n], dtype=float),
        "epoch_seconds": np.subtract(log["epoch_end_timestamps"][:n], log["epoch_start_timestamps"][:n]),
    }, columns=CURVE_COLUMNS)


def grid_curves(jobs: list) -> pd.DataFrame:
    """Curves of every finished job (:class:`sclesion.nnunet.jobs.TrainJob`), with ``dataset``,
    ``configuration`` and ``fold`` columns in front; unfinished jobs are left out."""
    parts = []
    for job in jobs:
        if job.done:
            curves = training_curves(job.fold_dir)
            parts.append(curves.assign(dataset=job.dataset, configuration=job.configuration, fold=job.fold))
    if not parts:
        return pd.DataFrame(columns=["dataset", "configuration", "fold"] + CURVE_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    return table[["dataset", "configuration", "fold"] + CURVE_COLUMNS]


def plot_curves(curves: pd.DataFrame, ncols: int = 2) -> plt.Figure:
    """One panel per model (dataset x configuration x fold): losses (left axis) and pseudo Dice of cord
    and lesion (right axis, 0-1) against the epoch; at most 7.5 in wide (the book's text column)."""
    models = list(curves.groupby(["dataset", "configuration", "fold"], sort=False))
    nrows = max(1, int(np.ceil(len(models) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(7.5, 3.75 * ncols), 3.0 * nrows), squeeze=False, sharex=True)
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    lines = []
    for ax, ((dataset, configuration, fold), part) in zip(axes.flat, models):
        style = {"marker": "o", "markersize": 2.5}  # a one-epoch model still shows its point
        ax.plot(part["epoch"], part["train_loss"], color="tab:blue", label="training loss", **style)
        ax.plot(part["epoch"], part["val_loss"], color="tab:blue", linestyle="--", label="validation loss", **style)
        ax.set_ylabel("loss (BCE + Dice loss)")
        dice = ax.twinx()
        dice.plot(part["epoch"], part["pseudo_dice_cord"], color="tab:green", label="pseudo Dice, cord", **style)
        dice.plot(part["epoch"], part["pseudo_dice_lesion"], color="tab:red", label="pseudo Dice, lesion", **style)
        dice.set_ylim(0, 1)
        dice.set_ylabel("pseudo Dice")
        ax.set_title(f"{dataset}, {configuration}, fold {fold}", fontsize=9)
        ax.set_xlabel("epoch")
        lines = lines or ax.get_lines() + dice.get_lines()
    fig.legend(lines, [line.get_label() for line in lines], loc="lower center", ncol=2, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.1 if nrows == 1 else 0.06, 1, 1))
    return fig
