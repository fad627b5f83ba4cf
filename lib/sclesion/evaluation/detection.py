"""Which reference lesions a prediction detects, by lesion volume (paper Fig 7 and Fig 8).

The paper counted detections with ANIMA's ``animaDetectedComponents`` at its defaults. Its rule, applied here
per chunk in native voxel size so that volumes are in mm^3:

1. Components of the reference and of the prediction by 6-connectivity; components smaller than 3 mm^3
   (``ceil(3 / voxel volume)`` voxels) are removed from both, as if never drawn.
2. A reference lesion is detected when **more than** 10% of its voxels are covered by predicted components
   (ANIMA's alpha; note: strictly more, where MetricsReloaded's lesion-wise F1 takes "at least" 10%) and,
3. going through the predicted components that cover it, largest overlap first, until they make up 65% of
   the covered voxels (ANIMA's gamma), none has **more than** 70% of its voxels outside every reference
   lesion (ANIMA's beta). A prediction that is mostly elsewhere does not count as a detection.

Lesions are then binned by volume: [3, 10), [10, 50), [50, 100) and >= 100 mm^3.

ANIMA numbers components by decreasing size; :func:`detect_lesions` numbers them in raster order (the order of
``scipy.ndimage.label``). Predicted components covering a lesion equally are taken in label order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sclesion.core.errors import InputError
from sclesion.evaluation.lesions import label_lesions
from sclesion.evaluation.metrics import binary_pair, bounding_box, union_box

#: Components smaller than this (mm^3) are ignored, in the reference and in the prediction.
MIN_VOLUME_MM3: float = 3.0

#: A lesion must have more than this fraction of its voxels covered (ANIMA's alpha).
MIN_COVERAGE: float = 0.1

#: Predicted components are checked, largest overlap first, until they make up this fraction (ANIMA's gamma).
CUMULATIVE_OVERLAP: float = 0.65

#: A checked component with more than this fraction of its voxels outside every reference lesion voids the
#: detection (ANIMA's beta).
MAX_OUTSIDE: float = 0.7

#: Lesion volume bin edges in mm^3, left-closed: [3, 10), [10, 50), [50, 100), [100, inf).
VOLUME_BIN_EDGES_MM3: tuple[float, ...] = (3.0, 10.0, 50.0, 100.0, math.inf)

#: Names of the volume bins (mm^3), in increasing order.
VOLUME_BINS: tuple[str, ...] = ("3-10", "10-50", "50-100", ">=100")

#: Columns of :func:`detect_lesions`'s table.
LESION_COLUMNS: tuple[str, ...] = ("lesion", "n_voxels", "volume_mm3", "volume_bin", "coverage", "detected")


def min_voxels(min_volume_mm3: float, spacing: Sequence[float]) -> int:
    """Smallest component size kept, in voxels: ``ceil(min_volume_mm3 / voxel volume)`` (ANIMA's rule)."""
    return int(math.ceil(min_volume_mm3 / float(np.prod(spacing))))


def volume_bins(volumes_mm3) -> pd.Categorical:
    """Bin lesion volumes (mm^3) into :data:`VOLUME_BINS`; volumes below 3 mm^3 get NaN."""
    return pd.cut(np.asarray(volumes_mm3, dtype=float), VOLUME_BIN_EDGES_MM3, right=False, labels=list(VOLUME_BINS))


def detect_lesions(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    min_volume_mm3: float = MIN_VOLUME_MM3,
    min_coverage: float = MIN_COVERAGE,
    cumulative_overlap: float = CUMULATIVE_OVERLAP,
    max_outside: float = MAX_OUTSIDE,
) -> pd.DataFrame:
    """Decide for every reference lesion of one chunk whether the prediction detects it (module docstring).

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Predicted and reference lesion masks of one chunk, equal shape (nonzero = lesion), native grid.
    spacing : sequence of float
        Voxel size in mm along each axis (volumes are in mm^3).
    min_volume_mm3, min_coverage, cumulative_overlap, max_outside : float
        The rule's thresholds; defaults are ANIMA's (3 mm^3, 0.1, 0.65, 0.7).

    Returns
    -------
    pandas.DataFrame
        One row per kept reference lesion, columns :data:`LESION_COLUMNS`: ``lesion`` (1..n, raster order),
        ``n_voxels``, ``volume_mm3``, ``volume_bin`` (categorical), ``coverage`` (fraction of the lesion covered
        by kept predicted components), ``detected`` (bool).
    """
    pred, ref = binary_pair(pred, ref)
    spacing = np.asarray(spacing, dtype=float)
    if spacing.shape != (ref.ndim,) or not np.all(spacing > 0):
        raise InputError(f"spacing must hold {ref.ndim} positive voxel sizes (mm), got {spacing.tolist()}")
    box = union_box([bounding_box(pred), bounding_box(ref)])
    if box is None:
        return _lesion_table([], [], [], [], spacing)
    smallest = min_voxels(min_volume_mm3, spacing)
    ref_labels, ref_sizes = _kept_components(ref[box], smallest)
    pred_labels, pred_sizes = _kept_components(pred[box], smallest)
    # Overlap of every (reference lesion, predicted component) pair, kept components only (label 0 = neither).
    both = (ref_labels > 0) & (pred_labels > 0)
    n_codes = pred_sizes.size
    codes, overlaps = np.unique(ref_labels[both].astype(np.int64) * n_codes + pred_labels[both], return_counts=True)
    pair_ref, pair_pred = np.divmod(codes, n_codes)
    inside = np.bincount(pair_pred, weights=overlaps, minlength=n_codes)
    outside_fraction = np.divide(pred_sizes - inside, pred_sizes, out=np.zeros(n_codes), where=pred_sizes > 0)

    lesions, sizes, coverages, flags = [], [], [], []
    for lesion in np.flatnonzero(ref_sizes):
        chosen = pair_ref == lesion
        components, overlap = pair_pred[chosen], overlaps[chosen]
        covered = int(overlap.sum())
        coverage = covered / ref_sizes[lesion]
        detected = coverage > min_coverage
        if detected:
            cumulated = 0.0
            for k in np.lexsort((components, -overlap)):  # largest overlap first
                if outside_fraction[components[k]] > max_outside:
                    detected = False
                    break
                cumulated += overlap[k] / covered
                if cumulated >= cumulative_overlap:
                    break
        lesions.append(len(lesions) + 1)
        sizes.append(int(ref_sizes[lesion]))
        coverages.append(float(coverage))
        flags.append(bool(detected))
    return _lesion_table(lesions, sizes, coverages, flags, spacing)


def scored_lesions(reference: np.ndarray, spacing: Sequence[float],
                      min_volume_mm3: float = MIN_VOLUME_MM3) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The reference lesions that :func:`detect_lesions` scores, in its order.

    Parameters
    ----------
    reference : numpy.ndarray
        3D lesion mask.
    spacing : sequence of float
        Voxel size (mm).
    min_volume_mm3 : float, default 3
        Smaller components are not scored.

    Returns
    -------
    (labels, kept) : numpy.ndarray
        The 6-connected component labels of ``reference`` and the labels of the scored lesions, in the order of
        ``detect_lesions``'s rows (lesion ``n`` is ``labels == kept[n - 1]``).
    """
    labels, n = label_lesions(reference)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    kept = np.flatnonzero(sizes >= max(min_voxels(min_volume_mm3, spacing), 1))
    return labels, kept


def detection_rates(lesions: pd.DataFrame, by: Sequence[str] = ("volume_bin",)) -> pd.DataFrame:
    """Detection rate per group of lesions, with counts.

    Parameters
    ----------
    lesions : pandas.DataFrame
        Rows of :func:`detect_lesions` (possibly concatenated over chunks and sessions, with extra columns
        such as ``chunk``).
    by : sequence of str, default ("volume_bin",)
        Grouping columns, e.g. ``("chunk", "volume_bin")``. Every volume bin appears, in increasing order,
        empty ones with ``n_lesions`` 0 and ``rate`` NaN (also when ``volume_bin`` was read back from a CSV
        file as text).

    Returns
    -------
    pandas.DataFrame
        Columns ``*by``, ``n_lesions``, ``n_detected``, ``rate`` (``n_detected / n_lesions``, in [0, 1]).
    """
    by = list(by)
    missing = [c for c in by + ["detected"] if c not in lesions.columns]
    if missing:
        raise InputError(f"lesion table has no column {', '.join(missing)}")
    if "volume_bin" in by and not isinstance(lesions["volume_bin"].dtype, pd.CategoricalDtype):
        lesions = lesions.assign(volume_bin=pd.Categorical(lesions["volume_bin"], categories=list(VOLUME_BINS)))
    grouped = lesions.groupby(by, observed=False)["detected"]
    table = pd.DataFrame({"n_lesions": grouped.size(), "n_detected": grouped.sum()}).reset_index()
    table["n_detected"] = table["n_detected"].astype(int)
    table["rate"] = table["n_detected"] / table["n_lesions"].where(table["n_lesions"] > 0)
    return table


def _kept_components(mask: np.ndarray, smallest: int) -> tuple[np.ndarray, np.ndarray]:
    """Label a mask (6-connectivity) and drop components under ``smallest`` voxels.

    Returns the labels (dropped components set to 0) and the size of every label (0 for dropped ones and
    for label 0).
    """
    labels, n = label_lesions(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    sizes[sizes < smallest] = 0
    keep = np.where(sizes > 0, np.arange(n + 1), 0)
    return keep[labels], sizes


def _lesion_table(lesions, sizes, coverages, flags, spacing: np.ndarray) -> pd.DataFrame:
    volumes = np.asarray(sizes, dtype=float) * float(np.prod(spacing))
    return pd.DataFrame(
        {
            "lesion": np.asarray(lesions, dtype=int),
            "n_voxels": np.asarray(sizes, dtype=int),
            "volume_mm3": volumes,
            "volume_bin": volume_bins(volumes),
            "coverage": np.asarray(coverages, dtype=float),
            "detected": np.asarray(flags, dtype=bool),
        },
        columns=list(LESION_COLUMNS),
    )
