"""Lesion stand-in: a classical lesion detector whose threshold is chosen on training data only.

Where Spinal Cord Toolbox is absent (the demo) this stand-in takes the place of its lesion segmentation tools
as the baseline of the site generalization results (paper 3.4, Table 2); every table and legend calls it a
stand-in. MS lesions are hyperintense on T2w relative to the cord around them, so a voxel is a lesion voxel
when it lies in the cord and its robust z-score against the cord's own intensity distribution,

    z = (I - median) / (1.4826 MAD),

with the median and the median absolute deviation (MAD) of the cord's voxels on the slab of
:data:`SLAB_SLICES` axial slices centred on its slice, exceeds a threshold. Lesions (6-connected components,
:mod:`sclesion.evaluation.lesions`) smaller than a minimum volume (mm^3) are dropped.

The threshold, the minimum volume and the margin of the search region around the cord mask are the only
fitted parameters (:class:`LesionStandinParameters`): :func:`fit` picks them by a deterministic grid search
maximising the mean lesion Dice (then the pooled lesion-wise F1 score) over training images only, given their
cord masks and reference lesion masks. The margin is chosen among an in-plane erosion, none and a dilation of
one voxel: a dilation reaches lesions at the cord's edge, an erosion leaves out the edge, where partial volume
with the bright CSF looks like a lesion (on the synthetic cohort the fit chooses the erosion).

At test time (:func:`segment_file`, :func:`run`) the cord mask is the cord stand-in's own output
(:mod:`sclesion.baselines.cord_standin`), with the fitted margin: the whole method reads no reference mask at
test time. :func:`fit` accepts reference cord masks or, with ``cord=None``, the cord stand-in's output on the
training images.

Classes
-------
LesionStandinParameters   the fitted parameters, saved and loaded as JSON
TrainingCase              one training image with the cord mask searched and its reference lesion mask

Functions
---------
robust_z          the z-score map of an image against the cord's median and MAD per slab of slices
search_region     the cord mask widened or narrowed in-plane
segment_lesions   the lesion mask of an image array, given a cord mask and the fitted parameters
fit               choose the threshold, minimum volume and margin on training images
segment_file      the lesion mask of an image file (cord stand-in, then the detector)
run               segment a list of image files into a folder, ``<image stem>_lesion-lesionstandin.nii.gz`` each
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from sclesion.baselines import cord_standin
from sclesion.core.atomic import write_text
from sclesion.core.conventions import cord_region
from sclesion.core.errors import InputError
from sclesion.core.nifti import from_rpi, load_image, load_mask, to_rpi, validate_pair
from sclesion.evaluation.lesions import label_lesions, voxel_volume_mm3
from sclesion.evaluation.metrics import MIN_LESION_OVERLAP

#: Version of the method; part of every output's provenance record.
VERSION: str = "1"

#: Entity of the output files: ``<image stem>_lesion-lesionstandin.nii.gz`` (a lesion mask for the evaluation).
OUTPUT_ENTITY: str = "lesion-lesionstandin"

#: Axial slices (odd) whose cord voxels give the median and MAD of a slice's z-scores.
SLAB_SLICES: int = 3

#: In-plane margins (voxels) of the search region tried by :func:`fit`: the cord mask dilated (> 0) or eroded
#: (< 0) in each axial plane. Dilation reaches lesions at the cord's edge; erosion leaves out the cord's edge,
#: where partial volume with the bright CSF looks like a lesion.
MARGIN_GRID_VOXELS: tuple[int, ...] = (-1, 0, 1)

#: What :func:`fit` maximises.
CRITERION: str = "mean lesion Dice"

#: MAD to standard deviation of a normal distribution.
MAD_TO_SD: float = 1.4826

#: Thresholds (robust z) tried by :func:`fit`.
THRESHOLD_GRID: tuple[float, ...] = tuple(np.round(np.arange(1.0, 12.01, 0.5), 2))

#: Minimum lesion volumes (mm^3) tried by :func:`fit`.
MIN_VOLUME_GRID_MM3: tuple[float, ...] = (0.0, 3.0, 10.0, 20.0, 40.0)


@dataclass(frozen=True)
class LesionStandinParameters:
    """The fitted parameters of the lesion stand-in (JSON-serializable).

    Attributes
    ----------
    threshold : float
        Robust z-score above which a cord voxel is a lesion voxel.
    min_volume_mm3 : float
        Lesions (6-connected) below this volume (mm^3) are dropped.
    margin_voxels : int
        In-plane margin of the search region around the cord mask (voxels; > 0 dilates, < 0 erodes).
    n_training_images : int
        Number of training images the parameters were fitted on (0: not fitted).
    criterion : str
        What the fit maximised.
    score : float or None
        Its value on the training images (None: not fitted).
    """

    threshold: float
    min_volume_mm3: float
    margin_voxels: int = 0
    n_training_images: int = 0
    criterion: str = ""
    score: float | None = None

    def to_dict(self) -> dict:
        """The parameters as a plain dict."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the parameters as JSON (atomically)."""
        return write_text(json.dumps(self.to_dict(), indent=1) + "\n", path)

    @classmethod
    def load(cls, path: str | Path) -> "LesionStandinParameters":
        """Read parameters written by :meth:`save`.

        Raises
        ------
        InputError
            If the file cannot be read or does not hold these parameters.
        """
        path = Path(path)
        try:
            parameters = cls(**json.loads(path.read_text()))
        except OSError as err:
            raise InputError(f"cannot read ({err.strerror or type(err).__name__})", path) from None
        except (ValueError, TypeError) as err:
            raise InputError(f"not lesion stand-in parameters ({err})", path) from None
        numbers = (parameters.threshold, parameters.min_volume_mm3, parameters.margin_voxels)
        if not all(isinstance(n, (int, float)) and not isinstance(n, bool) and np.isfinite(n) for n in numbers):
            raise InputError("not lesion stand-in parameters (threshold, min_volume_mm3 and margin_voxels must be "
                             "finite numbers)", path)
        return parameters


@dataclass(frozen=True)
class TrainingCase:
    """One training image for :func:`fit`: the image, the cord mask searched, the reference lesion mask.

    ``cord`` may be None: the cord stand-in's output is then used, as at test time.
    """

    image: Path
    cord: Path | None
    lesion: Path


def robust_z(data: np.ndarray, cord: np.ndarray, search: np.ndarray, slab: int = SLAB_SLICES) -> np.ndarray:
    """Robust z-score of the voxels of ``search`` against the cord voxels of their slab of axial slices (RPI).

    Parameters
    ----------
    data : numpy.ndarray
        Image in RPI (axis 2 = inferior->superior), float.
    cord : numpy.ndarray
        Cord mask, same shape (nonzero = cord): its voxels give each slab's median and MAD.
    search : numpy.ndarray
        Mask of the voxels to score, same shape.
    slab : int
        Slices (odd) centred on each slice whose cord voxels give its median and MAD.

    Returns
    -------
    numpy.ndarray
        float32 z-scores, same shape; 0 outside ``search`` and on slabs without cord voxels (or with MAD 0).
    """
    cord, search = np.asarray(cord) != 0, np.asarray(search) != 0
    z = np.zeros(data.shape, dtype=np.float32)
    half = slab // 2
    for k in np.flatnonzero(search.any(axis=(0, 1))):
        lo, hi = max(0, k - half), min(data.shape[2], k + half + 1)
        values = data[:, :, lo:hi][cord[:, :, lo:hi]]
        if values.size == 0:
            continue
        median = float(np.median(values))
        mad = MAD_TO_SD * float(np.median(np.abs(values - median)))
        if mad > 0:
            inside = search[:, :, k]
            z[:, :, k][inside] = (data[:, :, k][inside] - median) / mad
    return z


def search_region(cord: np.ndarray, margin_voxels: int) -> np.ndarray:
    """``cord`` (RPI) dilated (``margin_voxels`` > 0) or eroded (< 0) in each axial plane, 4-connected steps."""
    cord = np.asarray(cord) != 0
    if margin_voxels == 0:
        return cord
    plane = np.zeros((3, 3, 3), dtype=bool)
    plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    if margin_voxels > 0:
        return ndimage.binary_dilation(cord, structure=plane, iterations=margin_voxels)
    return ndimage.binary_erosion(cord, structure=plane, iterations=-margin_voxels)


def _threshold(z: np.ndarray, threshold: float, min_voxels: float) -> np.ndarray:
    """``z > threshold`` without lesions of fewer than ``min_voxels`` voxels (bool)."""
    mask = z > threshold
    if min_voxels > 0 and mask.any():
        labels, n = label_lesions(mask)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_voxels
        keep[0] = False
        mask = keep[labels]
    return mask


def _check(data: np.ndarray, cord: np.ndarray, affine: np.ndarray) -> None:
    if np.asarray(data).ndim != 3:
        raise InputError(f"lesion stand-in needs a 3D image, got shape {np.asarray(data).shape}")
    if np.asarray(cord).shape != np.asarray(data).shape:
        raise InputError(f"cord mask shape {np.asarray(cord).shape} differs from the image's {np.asarray(data).shape}")
    if np.asarray(affine).shape != (4, 4):
        raise InputError(f"lesion stand-in needs a 4x4 affine, got shape {np.asarray(affine).shape}")
    if not np.isfinite(data).all():
        raise InputError("lesion stand-in needs finite voxel values (the image holds NaN or infinite values)")


def _rpi_inputs(data: np.ndarray, cord: np.ndarray, affine: np.ndarray):
    """Image and cord mask (bool) in RPI, the RPI affine, and the volume of a voxel (mm^3), after checks."""
    _check(data, cord, affine)
    image, rpi_affine = to_rpi(np.asarray(data, dtype=np.float32), affine)
    region, _ = to_rpi(np.asarray(cord) != 0, affine)
    return np.ascontiguousarray(image), np.ascontiguousarray(region), rpi_affine, voxel_volume_mm3(affine)


def segment_lesions(data: np.ndarray, affine: np.ndarray, cord: np.ndarray,
                    parameters: LesionStandinParameters) -> np.ndarray:
    """Lesion mask of an image, searched in a cord mask (widened or narrowed by ``parameters.margin_voxels``).

    Parameters
    ----------
    data : numpy.ndarray
        3D T2w image, any axis order (the affine says which).
    affine : numpy.ndarray
        4x4 voxel-to-world matrix (mm).
    cord : numpy.ndarray
        Cord mask on the same grid (nonzero = cord); at test time the cord stand-in's output.
    parameters : LesionStandinParameters
        Fitted threshold, minimum volume and margin (:func:`fit`).

    Returns
    -------
    numpy.ndarray
        uint8 mask in {0, 1}, same shape and axis order as ``data``.

    Raises
    ------
    InputError
        If the image is not 3D or not finite, or the cord mask's shape differs.
    """
    image, region, rpi_affine, voxel_mm3 = _rpi_inputs(data, cord, affine)
    z = robust_z(image, region, search_region(region, parameters.margin_voxels))
    mask = _threshold(z, parameters.threshold, parameters.min_volume_mm3 / voxel_mm3)
    return np.ascontiguousarray(from_rpi(mask.astype(np.uint8), rpi_affine, affine)[0])


def fit(cases, thresholds=THRESHOLD_GRID, min_volumes_mm3=MIN_VOLUME_GRID_MM3, margins_voxels=MARGIN_GRID_VOXELS,
        progress: bool = True) -> LesionStandinParameters:
    """Choose the threshold, minimum lesion volume and margin on training images (deterministic grid search).

    The chosen triple maximises the mean lesion Dice over the training images (1 where reference and
    prediction are both empty, so a false positive on a lesion-free image costs a whole image), ties broken
    by the pooled lesion-wise F1 score (true positive, false positive and false negative lesions summed over
    images; a reference lesion counts as found when at least 10% of its voxels are predicted, as
    :func:`sclesion.evaluation.metrics.match_lesions`), then towards the more conservative detector: the
    narrower margin, then the higher threshold, then the larger minimum volume.

    Parameters
    ----------
    cases : iterable of TrainingCase
        Training images only, with the cord mask searched and the reference lesion mask. A given cord mask
        (e.g. the reference) is joined with the lesion mask (cord region = cord OR lesion); ``cord=None`` uses
        the cord stand-in's output as it is, as at test time.
    thresholds : sequence of float
        Robust z-scores tried.
    min_volumes_mm3 : sequence of float
        Minimum lesion volumes (mm^3) tried.
    margins_voxels : sequence of int
        In-plane margins of the search region tried (voxels; > 0 dilates the cord mask, < 0 erodes it).
    progress : bool
        Show a tqdm progress bar over the training images.

    Returns
    -------
    LesionStandinParameters

    Raises
    ------
    InputError
        If there is no training case, or an image or mask cannot be read or is off its image's grid.
    """
    cases = list(cases)
    if not cases:
        raise InputError("lesion stand-in: no training image to fit the threshold on")
    # Grid order = tie-break order: the most conservative detector first.
    margins = sorted(int(m) for m in margins_voxels)
    thresholds = sorted((float(t) for t in thresholds), reverse=True)
    volumes = sorted((float(v) for v in min_volumes_mm3), reverse=True)
    shape = (len(margins), len(thresholds), len(volumes))
    counts = np.zeros(shape + (3,))  # true positive, false positive, false negative lesions
    dice_sum = np.zeros(shape)
    for case in tqdm(cases, desc="fitting lesion stand-in", unit="image", disable=not progress):
        image, cord, reference, voxel_mm3 = _training_inputs(case)
        for m, margin in enumerate(margins):
            search = search_region(cord, margin)
            box = _box(search, reference)
            z = robust_z(image, cord, search)[box]
            for t, threshold in enumerate(thresholds):
                image_counts, image_dice = _scores(z > threshold, reference[box], [v / voxel_mm3 for v in volumes])
                counts[m, t] += image_counts
                dice_sum[m, t] += image_dice
    tp, fp, fn = np.moveaxis(counts, -1, 0)
    denominator = tp + (fp + fn) / 2
    f1 = np.divide(tp, denominator, out=np.ones_like(tp), where=denominator > 0).ravel()
    mean_dice = (dice_sum / len(cases)).ravel()
    best = int(np.lexsort((-np.arange(f1.size), f1, mean_dice))[-1])
    m, t, v = np.unravel_index(best, shape)
    return LesionStandinParameters(threshold=thresholds[t], min_volume_mm3=volumes[v], margin_voxels=margins[m],
                                   n_training_images=len(cases), criterion=CRITERION,
                                   score=round(float(mean_dice[best]), 4))


def _scores(candidates: np.ndarray, reference: np.ndarray, min_voxels: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Lesion counts (tp, fp, fn) and Dice of ``candidates`` against ``reference`` for each minimum size.

    Returns
    -------
    counts : numpy.ndarray
        Shape ``(len(min_voxels), 3)``.
    dice : numpy.ndarray
        Shape ``(len(min_voxels),)``; 0 where the reference is empty (only images with a lesion are averaged).
    """
    pred_labels, n_pred = label_lesions(candidates)
    ref_labels, n_ref = label_lesions(reference)
    sizes = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)[1:]
    ref_sizes = np.bincount(ref_labels.ravel(), minlength=n_ref + 1)[1:]
    both = (pred_labels > 0) & (ref_labels > 0)
    pairs = np.zeros((n_pred, n_ref))  # voxels shared by each predicted component and reference lesion
    np.add.at(pairs, (pred_labels[both] - 1, ref_labels[both] - 1), 1)
    counts, dices = np.zeros((len(min_voxels), 3)), np.zeros(len(min_voxels))
    for i, minimum in enumerate(min_voxels):
        kept = sizes >= minimum
        covered = pairs[kept].sum(axis=0)
        tp = int(np.count_nonzero(covered / np.maximum(ref_sizes, 1) >= MIN_LESION_OVERLAP)) if n_ref else 0
        fp = int(np.count_nonzero(pairs[kept].sum(axis=1) == 0))
        counts[i] = (tp, fp, n_ref - tp)
        total = sizes[kept].sum() + ref_sizes.sum()
        dices[i] = 2 * covered.sum() / total if total else 1.0
    return counts, dices


def _training_inputs(case: TrainingCase):
    """Image, cord region and reference lesions of a training case (RPI, bool masks), voxel volume (mm^3)."""
    data, affine = load_image(case.image)
    validate_pair(case.image, case.lesion)
    lesion, _ = load_mask(case.lesion)
    try:
        if case.cord is None:
            cord = cord_standin.segment_cord(data, affine)
        else:
            validate_pair(case.image, case.cord)
            cord = cord_region(load_mask(case.cord)[0], lesion)
        image, region, _, voxel_mm3 = _rpi_inputs(data, cord, affine)
    except InputError as err:
        raise InputError(err.problem, err.path or case.image) from None
    return image, region, to_rpi(lesion != 0, affine)[0], voxel_mm3


def _box(*masks: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of the union of masks, one voxel of margin (the whole array when all are empty)."""
    union = np.logical_or.reduce([np.asarray(m) != 0 for m in masks])
    if not union.any():
        return tuple(slice(0, 0) for _ in union.shape)
    box = []
    for axis in range(union.ndim):
        hit = np.flatnonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))
        box.append(slice(max(0, hit[0] - 1), hit[-1] + 2))
    return tuple(box)


def segment_file(image: str | Path, parameters: LesionStandinParameters) -> nib.Nifti1Image:
    """Lesion stand-in mask of an image file on its grid: the cord stand-in, then :func:`segment_lesions`.

    No reference mask is read.

    Raises
    ------
    InputError
        If the file is not a readable 3D NIfTI image with finite values (one line naming it).
    """
    data, affine = load_image(image)
    try:
        cord = cord_standin.segment_cord(data, affine)
        mask = segment_lesions(data, affine, cord, parameters)
    except InputError as err:
        raise InputError(err.problem, image) from None
    return cord_standin.mask_image(mask, affine)


def run(images, output_dir: str | Path, parameters: LesionStandinParameters, jobs: int = 1,
        progress: bool = True) -> list[Path]:
    """Segment every image into ``output_dir`` as ``<image stem>_lesion-lesionstandin.nii.gz``.

    Outputs are written atomically with a provenance record holding the fitted parameters; an output whose
    image, method and parameters are unchanged is skipped.

    Parameters
    ----------
    images : iterable of str or Path
        Axial T2w NIfTI images (test images: no reference mask is read).
    output_dir : str or Path
        Folder of the masks (created); :func:`sclesion.evaluation.evaluate.find_predictions` pairs them with
        the references as lesion masks.
    parameters : LesionStandinParameters
        From :func:`fit` on training images.
    jobs : int, default 1
        Worker processes.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    list of Path
        The output masks, in the order of ``images``.
    """
    record = {"version": VERSION, "cord_standin_version": cord_standin.VERSION, "threshold": parameters.threshold,
              "min_volume_mm3": parameters.min_volume_mm3, "margin_voxels": parameters.margin_voxels}
    return cord_standin.run_each(images, output_dir, OUTPUT_ENTITY, "lesion-standin",
                                 partial(segment_file, parameters=parameters), record, jobs=jobs, progress=progress)
