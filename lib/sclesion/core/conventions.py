"""The study's conventions, named once: orientation, region thresholds, lesion connectivity, straight field of view.

Every module that needs one of these imports it from here, so a reader finds each convention in one place.

- :data:`RPI`: the orientation every array is analysed in.
- :func:`lesion_region` and :func:`cord_region`: which voxels of a (possibly interpolated) cord and lesion mask
  count as lesion and as cord (:data:`REGION_THRESHOLD`).
- :data:`LESION_CONNECTIVITY`: how voxels join into one lesion (:mod:`sclesion.evaluation.lesions` labels them).
- :data:`STRAIGHT_FOV_HALF_WIDTH_MM`: the straightened image's in-plane field of view.
"""

from __future__ import annotations

import numpy as np

#: nibabel axis codes of SCT's "RPI" orientation: axis 0 runs right->left, axis 1 posterior->anterior, axis 2
#: inferior->superior. SCT names an axis by where it comes *from*, nibabel by where it points *to*, so SCT's
#: "RPI" is nibabel's ``("L", "A", "S")``. Arrays in RPI are indexed ``[i, j, k]`` in that order.
RPI: tuple[str, str, str] = ("L", "A", "S")

#: A voxel belongs to a region when its (interpolated) mask value is strictly above this threshold.
REGION_THRESHOLD: float = 0.5

#: Voxel neighbourhood of a lesion: 6 = faces only (the count MetricsReloaded and ANIMA use). The other 3D
#: connectivities are 18 (faces and edges) and 26 (faces, edges and corners).
LESION_CONNECTIVITY: int = 6

#: Half width (mm) of the square in-plane field of view of the straight space around the cord (SCT's default
#: for ``sct_straighten_spinalcord``).
STRAIGHT_FOV_HALF_WIDTH_MM: float = 35.0

#: Share of the pooled (TUM-like) subjects that go to the test set (the paper's 80/20 split).
TEST_FRACTION: float = 0.2


def lesion_region(lesion: np.ndarray) -> np.ndarray:
    """Lesion region of a lesion mask: ``lesion > 0.5`` (bool, same shape)."""
    return np.asarray(lesion, dtype=np.float32) > REGION_THRESHOLD


def cord_region(cord: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """Cord region (lesions inside the cord included): ``(cord + lesion) > 0.5`` (bool, same shape)."""
    return (np.asarray(cord, dtype=np.float32) + np.asarray(lesion, dtype=np.float32)) > REGION_THRESHOLD
