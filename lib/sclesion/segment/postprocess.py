"""Post-processing of a predicted label map, each step acting on its own label only; all off by default.

=======================  ====================================================================================
step                     what it does
=======================  ====================================================================================
``largest_cord``         keep the largest connected component of the cord (26-connectivity: the cord is one
                         tube, and any contact joins). Acts on the cord output only, never on the lesions:
                         SCT's ``-largest`` also applies to the lesion output and keeps a single lesion.
``drop_outside_cord``    drop every lesion that has no voxel inside the (post-processed) cord mask (users of
                         the SCT model asked for it; objects outside the cord also break lesion analyses).
``min_lesion_mm3``       drop every lesion smaller than this volume (mm^3; voxels x voxel volume).
=======================  ====================================================================================

They run in this order. Lesions are components of the lesion mask with the connectivity given (6 by default,
the study's lesion definition; see :mod:`sclesion.evaluation.morphometrics`). The cord output (cord including
its lesions, label > 0 of the region map) and the lesion output (label 2) are returned as separate masks;
with ``largest_cord`` a lesion outside the kept cord component stays a lesion unless ``drop_outside_cord``
removes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from sclesion.core.errors import InputError
from sclesion.evaluation.lesions import label_lesions


@dataclass(frozen=True)
class PostProcessing:
    """The post-processing options (module docstring); the defaults change nothing."""

    largest_cord: bool = False
    drop_outside_cord: bool = False
    min_lesion_mm3: float = 0.0
    connectivity: int = 6

    def __post_init__(self):
        if not self.min_lesion_mm3 >= 0:
            raise InputError(f"the smallest lesion volume must be >= 0 mm^3, got {self.min_lesion_mm3}")

    def as_dict(self) -> dict:
        return asdict(self)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a binary mask (an empty mask stays empty); ties: lowest label."""
    labels, n = ndimage.label(np.asarray(mask) > 0, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def select_lesions(lesion: np.ndarray, cord: np.ndarray, voxel_mm3: float, options: PostProcessing) -> np.ndarray:
    """The lesion mask with the lesions that ``drop_outside_cord`` and ``min_lesion_mm3`` reject removed."""
    lesion = np.asarray(lesion) > 0
    if not (options.drop_outside_cord or options.min_lesion_mm3 > 0):
        return lesion
    labels, n = label_lesions(lesion, options.connectivity)
    if n == 0:
        return lesion
    ids = np.arange(1, n + 1)
    keep = np.ones(n, bool)
    if options.drop_outside_cord:
        keep &= ndimage.maximum(np.asarray(cord) > 0, labels, ids).astype(bool)
    if options.min_lesion_mm3 > 0:
        keep &= np.bincount(labels.ravel(), minlength=n + 1)[1:] * voxel_mm3 >= options.min_lesion_mm3
    return np.isin(labels, ids[keep])


def postprocess(labels: np.ndarray, voxel_mm3: float, options: PostProcessing) -> tuple[np.ndarray, np.ndarray]:
    """Cord and lesion masks of a region label map (0 background, 1 cord, 2 lesion) after post-processing.

    Parameters
    ----------
    labels : numpy.ndarray
        Region label map, any axis order.
    voxel_mm3 : float
        Voxel volume (mm^3).
    options : PostProcessing

    Returns
    -------
    cord, lesion : numpy.ndarray
        uint8 masks, the label map's shape.
    """
    cord = np.asarray(labels) > 0
    if options.largest_cord:
        cord = largest_component(cord)
    lesion = select_lesions(np.asarray(labels) == 2, cord, voxel_mm3, options)
    return cord.astype(np.uint8), lesion.astype(np.uint8)
