"""What a lesion is: a connected component of a lesion mask, and its volume in mm^3.

This is the one definition every part of the study uses (metrics, detection, the cohort's lesion tables, the
stitching and straightening checks): voxels above zero, joined through their faces
(:data:`sclesion.core.conventions.LESION_CONNECTIVITY`, 6-connectivity, as MetricsReloaded and ANIMA count).
Another connectivity is used only where a caller passes it explicitly.

Volumes are in mm^3 (voxel count x ``|det(affine[:3, :3])|``), rounded to 0.001 mm^3 because NIfTI headers
store the affine in float32.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm.auto import tqdm

from sclesion.core.conventions import LESION_CONNECTIVITY
from sclesion.core.errors import InputError
from sclesion.core.nifti import load_mask

#: scipy.ndimage "rank" of each 3D connectivity (``generate_binary_structure(3, rank)``).
_RANK = {6: 1, 18: 2, 26: 3}


def structure(connectivity: int = LESION_CONNECTIVITY) -> np.ndarray:
    """The 3D voxel neighbourhood of a connectivity (6, 18 or 26) as a ``scipy.ndimage`` structure."""
    if connectivity not in _RANK:
        raise InputError(f"unknown 3D connectivity {connectivity}; choose from {sorted(_RANK)}")
    return ndimage.generate_binary_structure(3, _RANK[connectivity])


def label_lesions(mask: np.ndarray, connectivity: int = LESION_CONNECTIVITY) -> tuple[np.ndarray, int]:
    """Connected components of a mask (nonzero = inside), labelled 1..n in raster order.

    Parameters
    ----------
    mask : numpy.ndarray
        Lesion mask (any axis order); nonzero voxels are lesion. Masks that are not 3D are joined through
        faces only (the same rule in fewer dimensions).
    connectivity : int, default :data:`~sclesion.core.conventions.LESION_CONNECTIVITY` (6)
        3D connectivity: 6, 18 or 26.

    Returns
    -------
    labels : numpy.ndarray
        int32, same shape; 0 outside every lesion.
    n : int
        Number of lesions.
    """
    mask = np.asarray(mask)
    mask = mask if mask.dtype == bool else mask != 0
    neighbourhood = structure(connectivity) if mask.ndim == 3 else ndimage.generate_binary_structure(mask.ndim, 1)
    labels, n = ndimage.label(mask, structure=neighbourhood)
    return labels, int(n)


def count_lesions(mask: np.ndarray, connectivity: int = LESION_CONNECTIVITY) -> int:
    """Number of lesions (connected components) of a mask."""
    return label_lesions(mask, connectivity)[1]


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume (mm^3) of one voxel of a grid: ``|det(affine[:3, :3])|``."""
    return abs(float(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3])))


def lesion_volumes_mm3(mask: np.ndarray, affine: np.ndarray, connectivity: int = LESION_CONNECTIVITY) -> np.ndarray:
    """Volume (mm^3, rounded to 0.001) of each lesion of a mask, in label order (see :func:`label_lesions`).

    Parameters
    ----------
    mask : numpy.ndarray
        3D lesion mask (any axis order).
    affine : numpy.ndarray
        Its 4x4 voxel-to-world matrix (mm).
    connectivity : int, default 6
    """
    labels, n = label_lesions(mask, connectivity)
    if n == 0:
        return np.zeros(0)
    n_voxels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return np.round(n_voxels * voxel_volume_mm3(affine), 3)


def lesion_volumes(dataset: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """One row per lesion of every lesion mask of a dataset table, in the image's native grid.

    Chunks overlap slightly, so a lesion crossing an overlap is counted in both chunks (as in the paper's
    chunk-wise counts).

    Parameters
    ----------
    dataset : pandas.DataFrame
        One row per image with ``lesion`` paths (rows without a lesion mask are skipped), ``participant_id``,
        ``session``, ``chunk``, ``site`` and optionally ``split``.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``session``, ``chunk``, ``site``, ``split``, ``lesion_id`` (1-based in
        label order), ``volume_mm3``.
    """
    rows = []
    with_lesion = dataset[dataset["lesion"].notna()]
    for row in tqdm(with_lesion.itertuples(index=False), total=len(with_lesion), desc="lesions", unit="mask",
                    disable=not progress):
        mask, affine = load_mask(row.lesion)
        for lesion_id, volume in enumerate(lesion_volumes_mm3(mask, affine), start=1):
            rows.append((row.participant_id, row.session, row.chunk, row.site, getattr(row, "split", None),
                         lesion_id, float(volume)))
    columns = ["participant_id", "session", "chunk", "site", "split", "lesion_id", "volume_mm3"]
    table = pd.DataFrame(rows, columns=columns)
    table["chunk"] = table["chunk"].astype("Int64")
    return table
