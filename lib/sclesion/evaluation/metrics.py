"""The study's segmentation metrics, defined as MetricsReloaded defines them, computed on cropped masks.

The paper evaluated every prediction with MetricsReloaded (the ivadomed fork). This module computes the
same numbers (book/methods.md, "Metrics and empty masks") about a hundred times faster: masks are
cropped to the box around both of them, components are labelled once, per-lesion overlaps are counted with
``numpy.bincount`` and surface distances are computed only on small boxes around the surfaces
(:func:`normalized_surface_distance`).

Metrics (the names are the column names of the paper's tables)
----------------------------------------------------------------
Dice
    ``2 |R n P| / (|R| + |P|)``, voxel-wise.
NSD
    Normalised surface distance. The surface (border) of a mask is the mask minus its erosion by the
    6-connected cross; voxels at the array edge count as border. NSD = (border voxels of P within ``tau`` of
    the border of R + border voxels of R within ``tau`` of the border of P) / (border sizes summed), with
    "within" inclusive (distance <= tau). ``tau`` is 1 voxel by default, as the authors ran it (they passed
    no voxel size); pass ``spacing`` to give ``tau`` in mm.
RVE
    Relative volume error in %, ``100 (|P| - |R|) / |R|`` (voxel counts; negative = under-segmentation).
PPVL, SensL, F1ScoreL
    Lesion-wise positive predictive value, sensitivity and F1 score. Lesions are the connected components
    of a mask by 6-connectivity. A reference lesion is a true positive (TP) when at least 10% of its voxels
    are predicted, otherwise a false negative (FN). A predicted component is a false positive (FP) only if
    it touches no reference voxel. PPVL = TP / (TP + FP), SensL = TP / (TP + FN),
    F1ScoreL = TP / (TP + (FP + FN) / 2). Note that TP counts *reference* lesions in all three.
RefLesionsCount, PredLesionsCount, abs_delta_lesion_count
    Number of components of R and of P (6-connectivity), and ``|n_ref - n_pred|``.

Empty masks (MetricsReloaded's conventions, which the paper's numbers include)
------------------------------------------------------------------------------
=================  ===========  ===============  ================
metric             both empty   only ref empty   only pred empty
=================  ===========  ===============  ================
Dice               1            0                0
NSD                nan          0                0
RVE                0            +100             -100
PPVL               1            0                0
SensL              1            1                0
F1ScoreL           1            0                0
=================  ===========  ===============  ================

Two places where MetricsReloaded's code, not its intent, decides the value:

- NSD with one mask empty: MetricsReloaded takes the distance transform of an array without any border
  voxel, which SciPy answers with distances to a phantom point one voxel before the array's first voxel
  (index ``(-1, 0, 0)``), so border voxels within ``tau`` of that point count: the value is 0 unless the
  mask reaches the array's first corner, where it is a small fraction. We return 0.
- PPVL when both masks hold lesions but no reference lesion reaches 10% coverage and every predicted
  component touches a reference lesion (TP + FP = 0): MetricsReloaded raises an error; we return 0.

Array conventions: masks are arrays of equal shape (3D in this project, any dimension works), nonzero =
inside; ``spacing`` lists voxel sizes in mm along the same axes. Region label maps (nnU-Net's region-based
output: 0 background, 1 cord, 2 lesion) are split with :func:`split_regions`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from sclesion.evaluation.lesions import label_lesions
from sclesion.core.errors import InputError

#: Metric columns, in the order of the paper's tables.
METRICS: tuple[str, ...] = (
    "Dice",
    "NSD",
    "RVE",
    "PPVL",
    "SensL",
    "F1ScoreL",
    "RefLesionsCount",
    "PredLesionsCount",
    "abs_delta_lesion_count",
)

#: Lesion-wise counts behind PPVL, SensL and F1ScoreL (reference TP and FN lesions, predicted FP components).
LESION_COUNTS: tuple[str, ...] = ("LesionTP", "LesionFP", "LesionFN")

#: Flags telling which masks were empty (as MetricsReloaded's ``EmptyRef`` / ``EmptyPred``).
EMPTY_FLAGS: tuple[str, ...] = ("EmptyRef", "EmptyPred")

#: Every key of :func:`compute_metrics`'s result, in order.
ALL_COLUMNS: tuple[str, ...] = METRICS + LESION_COUNTS + EMPTY_FLAGS

#: A reference lesion is found when at least this fraction of its voxels is predicted.
MIN_LESION_OVERLAP: float = 0.1

#: NSD tolerance in voxels, as the paper ran MetricsReloaded (no voxel size given).
NSD_TAU_VOXELS: float = 1.0


def split_regions(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a region label map into cord and lesion masks.

    nnU-Net's region-based labels write 1 for cord and 2 for lesion, lesions lying inside the cord, so the
    cord region is every labelled voxel.

    Parameters
    ----------
    label_map : numpy.ndarray
        Integer labels: 0 background, 1 cord, 2 lesion.

    Returns
    -------
    cord, lesion : numpy.ndarray of bool
        ``label_map > 0`` and ``label_map > 1``.
    """
    label_map = np.asarray(label_map)
    return label_map > 0, label_map > 1


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest box holding every nonzero voxel of ``mask`` (None if there is none).

    Reduces over the first axis first (an element-wise maximum of contiguous planes, which is much faster
    than ``np.any(mask, axis=...)`` over the last axes), then recurses on the remaining axes.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean or non-negative array of any dimension.

    Returns
    -------
    tuple of slice or None
        One slice per axis.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = mask.view(np.uint8)  # maximum over uint8 is vectorised, over bool it is not
    if mask.ndim == 1:
        index = np.flatnonzero(mask)
        return (slice(int(index[0]), int(index[-1]) + 1),) if index.size else None
    rest = bounding_box(mask.max(axis=0))
    if rest is None:
        return None
    first = np.flatnonzero(mask[(slice(None),) + rest].max(axis=tuple(range(1, mask.ndim))))
    return (slice(int(first[0]), int(first[-1]) + 1),) + rest


def union_box(boxes: list[tuple[slice, ...] | None]) -> tuple[slice, ...] | None:
    """Smallest box holding all given boxes (None entries ignored); None when every box is None."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return tuple(
        slice(min(b[axis].start for b in boxes), max(b[axis].stop for b in boxes)) for axis in range(len(boxes[0]))
    )


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice similarity coefficient ``2 |R n P| / (|R| + |P|)``; 1 when both masks are empty.

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Masks of equal shape (nonzero = inside).
    """
    pred, ref = binary_pair(pred, ref)
    total = np.count_nonzero(pred) + np.count_nonzero(ref)
    if total == 0:
        return 1.0
    return float(2.0 * np.count_nonzero(pred & ref) / total)


def relative_volume_error(pred: np.ndarray, ref: np.ndarray) -> float:
    """Relative volume error in %, ``100 (|P| - |R|) / |R|``; 0 when both are empty, +100 when only R is empty.

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Masks of equal shape (nonzero = inside). Volumes are voxel counts, so the voxel size cancels.
    """
    pred, ref = binary_pair(pred, ref)
    n_pred, n_ref = np.count_nonzero(pred), np.count_nonzero(ref)
    if n_ref == 0:
        return 0.0 if n_pred == 0 else 100.0
    return float(100.0 * (n_pred - n_ref) / n_ref)


def surface(mask: np.ndarray) -> np.ndarray:
    """Border voxels of a mask: the mask minus its erosion by the 6-connected cross (outside the array = 0).

    Parameters
    ----------
    mask : numpy.ndarray
        Mask (nonzero = inside).

    Returns
    -------
    numpy.ndarray of bool
        Same shape; True on the border.
    """
    mask = _as_bool(mask)
    return mask & ~ndimage.binary_erosion(mask)


def normalized_surface_distance(
    pred: np.ndarray, ref: np.ndarray, tau: float = NSD_TAU_VOXELS, spacing=None
) -> float:
    """Normalised surface distance (NSD) at tolerance ``tau``; see the module docstring for the definition.

    Rather than a distance transform of the whole array, each border voxel looks for a border voxel of the
    other mask at one of the offsets within ``tau`` (:func:`ball_offsets`), so the cost follows the number of
    border voxels, not the array size. This equals MetricsReloaded's ``distance <= tau`` on SciPy's exact
    Euclidean distance transform: the offsets are kept with the same floating-point expression.

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Masks of equal shape (nonzero = inside).
    tau : float, default 1
        Tolerance: in voxels when ``spacing`` is None (the paper's setting), else in mm.
    spacing : sequence of float, optional
        Voxel size in mm along each axis.

    Returns
    -------
    float
        In [0, 1]; nan when both masks are empty, 0 when exactly one is.
    """
    pred, ref = binary_pair(pred, ref)
    sampling = np.ones(pred.ndim) if spacing is None else np.asarray(spacing, dtype=float)
    if sampling.shape != (pred.ndim,):
        raise InputError(f"spacing must hold {pred.ndim} positive voxel sizes (mm), got {spacing}")
    offsets = ball_offsets(tau, sampling)
    border_pred, border_ref = surface(pred), surface(ref)
    n_pred, n_ref = np.count_nonzero(border_pred), np.count_nonzero(border_ref)
    if n_pred == 0 and n_ref == 0:
        return math.nan
    if n_pred == 0 or n_ref == 0:
        return 0.0
    within = _count_near(border_pred, border_ref, offsets) + _count_near(border_ref, border_pred, offsets)
    return float(within / (n_pred + n_ref))


def ball_offsets(tau: float, spacing) -> np.ndarray:
    """Integer voxel offsets ``d`` with ``sqrt(sum((d * spacing) ** 2)) <= tau``, one per row.

    The distance is computed as ``scipy.ndimage.distance_transform_edt`` computes it (scale each axis, square,
    sum over axes in order, square root), so the comparison with ``tau`` gives the same result.

    Parameters
    ----------
    tau : float
        Radius, in the unit of ``spacing`` (mm, or voxels with unit spacing).
    spacing : sequence of float
        Voxel size per axis.

    Returns
    -------
    numpy.ndarray of int, shape (n_offsets, n_axes)
        Always holds the zero offset.
    """
    sampling = np.asarray(spacing, dtype=float)
    if not tau >= 0:
        raise InputError(f"NSD tolerance must be >= 0, got {tau}")
    if sampling.ndim != 1 or not np.all(sampling > 0):
        raise InputError(f"spacing must hold positive voxel sizes (mm), got {spacing}")
    reach = np.floor(tau / sampling).astype(int) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=0).reshape(len(reach), -1)
    scaled = grid.astype(np.float64) * sampling[:, None]
    distance = np.sqrt(np.add.reduce(scaled * scaled, axis=0))
    return grid[:, distance <= tau].T


def _count_near(sources: np.ndarray, targets: np.ndarray, offsets: np.ndarray, block: int = 64) -> int:
    """Number of True voxels of ``sources`` with a True voxel of ``targets`` at one of ``offsets``."""
    reach = np.abs(offsets).max(axis=0)
    padded = np.pad(targets, [(r, r) for r in reach])
    flat_targets = padded.ravel()
    points = np.ravel_multi_index(tuple((np.argwhere(sources) + reach).T), padded.shape)
    steps = np.ravel_multi_index(tuple((offsets + reach).T), padded.shape) - np.ravel_multi_index(
        tuple(reach), padded.shape
    )
    hit = np.zeros(points.size, dtype=bool)
    for start in range(0, steps.size, block):
        hit |= flat_targets[points[:, None] + steps[None, start : start + block]].any(axis=1)
    return int(np.count_nonzero(hit))


@dataclass(frozen=True)
class LesionMatch:
    """Lesion-wise comparison of a prediction with a reference (6-connected components).

    Attributes
    ----------
    n_ref, n_pred : int
        Number of reference lesions and of predicted components.
    tp : int
        Reference lesions with at least ``min_overlap`` of their voxels predicted.
    fn : int
        The other reference lesions (``n_ref - tp``).
    fp : int
        Predicted components touching no reference voxel.
    """

    n_ref: int
    n_pred: int
    tp: int
    fn: int
    fp: int


def match_lesions(pred: np.ndarray, ref: np.ndarray, min_overlap: float = MIN_LESION_OVERLAP) -> LesionMatch:
    """Count true positive, false negative and false positive lesions (see :class:`LesionMatch`).

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Masks of equal shape (nonzero = inside).
    min_overlap : float, default 0.1
        Fraction of a reference lesion's voxels that must be predicted for it to count as found
        (inclusive, as MetricsReloaded: ``overlap / size >= min_overlap``).
    """
    pred, ref = binary_pair(pred, ref)
    ref_labels, n_ref = label_lesions(ref)
    pred_labels, n_pred = label_lesions(pred)
    ref_sizes = np.bincount(ref_labels.ravel(), minlength=n_ref + 1)[1:]
    covered = np.bincount(ref_labels[pred], minlength=n_ref + 1)[1:]
    tp = int(np.count_nonzero(covered / ref_sizes >= min_overlap))
    touching = np.bincount(pred_labels[ref], minlength=n_pred + 1)[1:]
    fp = int(np.count_nonzero(touching == 0))
    return LesionMatch(n_ref=n_ref, n_pred=n_pred, tp=tp, fn=n_ref - tp, fp=fp)


def lesion_scores(match: LesionMatch) -> dict[str, float]:
    """PPVL, SensL and F1ScoreL of a :class:`LesionMatch`, with the empty-mask conventions of the module.

    Returns
    -------
    dict
        ``{"PPVL": ..., "SensL": ..., "F1ScoreL": ...}``, each in [0, 1].
    """
    if match.n_ref == 0 and match.n_pred == 0:
        return {"PPVL": 1.0, "SensL": 1.0, "F1ScoreL": 1.0}
    sensitivity = match.tp / (match.tp + match.fn) if match.n_ref else 1.0
    if match.n_ref == 0 or match.n_pred == 0:
        return {"PPVL": 0.0, "SensL": sensitivity, "F1ScoreL": 0.0}
    detected_or_false = match.tp + match.fp
    return {
        "PPVL": match.tp / detected_or_false if detected_or_false else 0.0,
        "SensL": sensitivity,
        "F1ScoreL": match.tp / (match.tp + (match.fp + match.fn) / 2),
    }


def compute_metrics(
    pred: np.ndarray, ref: np.ndarray, nsd_tau: float = NSD_TAU_VOXELS, spacing=None
) -> dict[str, float | int | bool]:
    """Every metric of the study for one prediction/reference pair of binary masks.

    Both masks are first cropped to the box around them. No metric changes: components stay whole, and a
    mask voxel on the box's face has a neighbour outside both masks, so it is a border voxel with or without
    the crop.

    Parameters
    ----------
    pred, ref : numpy.ndarray
        Masks of equal shape (nonzero = inside), e.g. the lesion masks of a stacked session.
    nsd_tau : float, default 1
        NSD tolerance, in voxels when ``spacing`` is None (the paper's setting), else in mm.
    spacing : sequence of float, optional
        Voxel size in mm per axis; only used by NSD.

    Returns
    -------
    dict
        Keys :data:`ALL_COLUMNS`: the :data:`METRICS` (floats; lesion counts as int), the
        :data:`LESION_COUNTS` (int) and the :data:`EMPTY_FLAGS` (bool).
    """
    pred, ref = binary_pair(pred, ref)
    box = union_box([bounding_box(pred), bounding_box(ref)])
    if box is not None:
        pred, ref = pred[box], ref[box]
    match = match_lesions(pred, ref)
    result: dict[str, float | int | bool] = {
        "Dice": dice(pred, ref),
        "NSD": normalized_surface_distance(pred, ref, nsd_tau, spacing),
        "RVE": relative_volume_error(pred, ref),
        **lesion_scores(match),
        "RefLesionsCount": match.n_ref,
        "PredLesionsCount": match.n_pred,
        "abs_delta_lesion_count": abs(match.n_ref - match.n_pred),
        "LesionTP": match.tp,
        "LesionFP": match.fp,
        "LesionFN": match.fn,
        "EmptyRef": match.n_ref == 0,
        "EmptyPred": match.n_pred == 0,
    }
    return result


# --- MetricsReloaded, as an optional cross-check --------------------------------------------------------

#: MetricsReloaded measure name -> our column name.
METRICS_RELOADED_NAMES: dict[str, str] = {
    "dsc": "Dice",
    "nsd": "NSD",
    "rel_vol_error": "RVE",
    "lesion_ppv": "PPVL",
    "lesion_sensitivity": "SensL",
    "lesion_f1_score": "F1ScoreL",
    "ref_count": "RefLesionsCount",
    "pred_count": "PredLesionsCount",
}

_METRICS_RELOADED_HINT = (
    "MetricsReloaded is not installed; it is an optional cross-check. Install the fork the authors used with "
    "'pip install git+https://github.com/ivadomed/MetricsReloaded' (it needs its own environment)."
)


def metrics_reloaded_available() -> bool:
    """True when the ``MetricsReloaded`` package can be imported."""
    try:
        _binary_pairwise_measures()
    except ImportError:
        return False
    return True


def metrics_reloaded(pred: np.ndarray, ref: np.ndarray, nsd_tau: float = NSD_TAU_VOXELS, spacing=None) -> dict:
    """The same metrics computed by MetricsReloaded itself (slow: seconds and about 1 GB per pair).

    Parameters are those of :func:`compute_metrics`. A measure that MetricsReloaded fails to compute (its
    lesion PPV when TP + FP = 0) is returned as nan.

    Returns
    -------
    dict
        Keys :data:`METRICS`.

    Raises
    ------
    ImportError
        With installation instructions, when MetricsReloaded is not installed.
    """
    measures_class = _binary_pairwise_measures()
    pred, ref = binary_pair(pred, ref)
    measures = measures_class(
        pred.astype(float),
        ref.astype(float),
        measures=list(METRICS_RELOADED_NAMES),
        pixdim=None if spacing is None else list(spacing),
        dict_args={"nsd": nsd_tau},
    )
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns on every empty mask
        for key, name in METRICS_RELOADED_NAMES.items():
            try:
                result[name] = float(measures.measures_dict[key][0]())
            except (UnboundLocalError, ZeroDivisionError):
                result[name] = math.nan
    result["abs_delta_lesion_count"] = abs(result["RefLesionsCount"] - result["PredLesionsCount"])
    return {name: result[name] for name in METRICS}


def cross_check(
    pred: np.ndarray, ref: np.ndarray, nsd_tau: float = NSD_TAU_VOXELS, spacing=None, atol: float = 1e-9
) -> pd.DataFrame:
    """Compare :func:`compute_metrics` with :func:`metrics_reloaded` on one pair.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric``, ``sclesion``, ``metricsreloaded``, ``agree`` (equal within ``atol``,
        or both nan).

    Raises
    ------
    ImportError
        When MetricsReloaded is not installed.
    """
    theirs = metrics_reloaded(pred, ref, nsd_tau, spacing)
    ours = compute_metrics(pred, ref, nsd_tau, spacing)
    table = pd.DataFrame(
        {
            "metric": list(METRICS),
            "sclesion": [float(ours[m]) for m in METRICS],
            "metricsreloaded": [theirs[m] for m in METRICS],
        }
    )
    table["agree"] = np.isclose(table["sclesion"], table["metricsreloaded"], rtol=0.0, atol=atol, equal_nan=True)
    return table


def _binary_pairwise_measures():
    try:
        from MetricsReloaded.metrics.pairwise_measures import BinaryPairwiseMeasures
    except ImportError as err:
        raise ImportError(_METRICS_RELOADED_HINT) from err
    return BinaryPairwiseMeasures


# --- helpers ---------------------------------------------------------------------------------------------


def _as_bool(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask != 0


def binary_pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as bool arrays (nonzero = inside); :class:`InputError` if their shapes differ."""
    pred, ref = _as_bool(pred), _as_bool(ref)
    if pred.shape != ref.shape:
        raise InputError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    return pred, ref
