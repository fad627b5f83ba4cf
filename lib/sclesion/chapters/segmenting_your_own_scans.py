"""The "Segmenting your own scans" chapter (notebook 09): ``sclesion segment`` on a test image, its QC content.

======================  ===========================================================================================
function                what it gives
======================  ===========================================================================================
demo_model              the profile's 2d chunks-native model folder, trained first where it is missing (local)
pick_test_image         the TUM test chunk of the split with the most reference lesion volume
qc_figures              the QC page's pictures of one segmented image: the axial mosaic and the sagittal view
viewer                  the interactive viewer of one segmented image (nilearn, works in the static book)
released_model_layout   what a model folder must hold, checked on a folder, one row per requirement
======================  ===========================================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.core.errors import InputError
from sclesion.core.nifti import load_nifti
from sclesion.data.bids import discover
from sclesion.nnunet import runner
from sclesion.nnunet.predict import available_folds
from sclesion.nnunet.settings import NnunetSettings

#: The model the chapter uses: the paper's final single-site model (2d, chunks native).
DATASET, CONFIGURATION = "chunks_native", "2d"


def demo_model(settings: NnunetSettings, bids_root: str | Path, work_dir: str | Path, split: pd.DataFrame,
               n_jobs: int = 1) -> Path:
    """The model folder of the profile's 2d chunks-native model, trained (locally) if it is not yet.

    Notebook 04 trains it with the rest of the grid; this only fills in what is missing (conversion, planning,
    training of its folds), so the chapter also runs on its own. A profile that trains on SLURM is not
    trained here.

    Raises
    ------
    InputError
        If the profile's grid has no 2d chunks-native model, or a SLURM profile's model is not trained yet.
    """
    if CONFIGURATION not in settings.grid.get(DATASET, ()):
        raise InputError(f"this profile's nnunet_grid trains no {CONFIGURATION} {DATASET} model")
    jobs = [job for job in runner.grid_jobs(settings, work_dir, [DATASET]) if job.configuration == CONFIGURATION]
    pending = [job for job in jobs if not job.done]
    if pending and settings.executor == "slurm":
        raise InputError(f"{pending[0].label} is not trained yet; this profile trains on SLURM (sclesion train)")
    if pending:
        runner.prepare(settings, bids_root, work_dir, split, datasets=[DATASET], n_jobs=n_jobs, progress=False)
        runner.run_local(pending, progress=False)
    return jobs[0].model_dir


def pick_test_image(bids_root: str | Path, split: pd.DataFrame) -> Path:
    """The TUM test chunk with the most reference lesion voxels (a chunk the model never saw in training).

    Raises
    ------
    InputError
        If the split has no TUM test subject with images.
    """
    images = discover(bids_root).merge(split[["participant_id", "split"]], on="participant_id")
    test = images[(images["split"] == "test") & (images["site"] == "TUM")]
    if test.empty:
        raise InputError("the split has no TUM test image", bids_root)
    volumes = [int(np.count_nonzero(np.asanyarray(load_nifti(p).dataobj))) if p is not None else 0
               for p in test["lesion"]]
    return Path(test["image"].iloc[int(np.argmax(volumes))])


def qc_figures(row: pd.Series) -> list:
    """The QC page's pictures of one segmented image (a row of ``sclesion segment``'s summary): the axial
    slices with lesions (absent when there is none) and the sagittal view with the lesion projection."""
    from sclesion.segment.qc import axial_mosaic, sagittal_figure

    image, cord, lesion = (load_nifti(row[k]) for k in ("image", "sc_seg", "lesion_seg"))
    figures = [axial_mosaic(image, cord, lesion), sagittal_figure(image, cord, lesion)]
    return [f for f in figures if f is not None]


def viewer(row: pd.Series):
    """The QC page's interactive viewer of one segmented image (:func:`sclesion.figures.viewer.cord_lesion_viewer`)."""
    from sclesion.figures.viewer import cord_lesion_viewer

    return cord_lesion_viewer(*(load_nifti(row[k]) for k in ("image", "sc_seg", "lesion_seg")))


def released_model_layout(model_dir: str | Path) -> pd.DataFrame:
    """What ``sclesion segment`` (and nnU-Net) need in a model folder, checked on ``model_dir``.

    Returns
    -------
    pandas.DataFrame
        ``requirement``, ``found`` (bool) and ``detail``.
    """
    import json

    model_dir = Path(model_dir)
    dataset = model_dir / "dataset.json"
    orientation = "n/a"
    if dataset.is_file():
        orientation = json.loads(dataset.read_text()).get("image_orientation", "absent: RPI assumed")
    folds = available_folds(model_dir)
    parts = model_dir.name.split("__")
    rows = [
        ("dataset.json", dataset.is_file(), f"image_orientation: {orientation}"),
        ("plans.json", (model_dir / "plans.json").is_file(), "the network, patch and spacing"),
        ("fold_<k>/checkpoint_final.pth", bool(folds), f"folds {folds}" if folds else "none"),
        ("folder named <trainer>__<plans>__<configuration>", len(parts) == 3,
         "needed by nnUNetv2_predict only; sclesion segment reads the checkpoints directly"),
    ]
    return pd.DataFrame(rows, columns=["requirement", "found", "detail"])
