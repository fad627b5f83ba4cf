"""Post-processing acts on its own label only, and does nothing by default."""

from __future__ import annotations

import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.segment.postprocess import PostProcessing, largest_component, postprocess


def _labels() -> np.ndarray:
    """A cord tube (x 4-8, y 4-8, all z) with two lesions inside, a small cord island with a lesion of its own,
    and a one-voxel lesion in the tube."""
    labels = np.zeros((20, 14, 30), np.uint8)
    labels[4:9, 4:9, :] = 1
    labels[5:8, 5:8, 3:8] = 2      # 45 voxels
    labels[6, 6, 20] = 2           # 1 voxel
    labels[14:18, 10:13, 10:13] = 1  # an island: a false positive outside the cord
    labels[15:17, 11, 11] = 2      # 2 voxels, a lesion in the island
    return labels


def test_defaults_change_nothing():
    labels = _labels()
    cord, lesion = postprocess(labels, 1.0, PostProcessing())
    np.testing.assert_array_equal(cord, labels > 0)
    np.testing.assert_array_equal(lesion, labels == 2)
    assert cord.dtype == lesion.dtype == np.uint8


def test_largest_cord_component_never_touches_the_lesions():
    labels = _labels()
    cord, lesion = postprocess(labels, 1.0, PostProcessing(largest_cord=True))
    assert not cord[14:18, 10:13, 10:13].any() and cord[4:9, 4:9, :].all()
    np.testing.assert_array_equal(lesion, labels == 2)  # all three lesions kept (SCT's -largest would keep one)


def test_lesions_outside_the_cord_are_dropped():
    labels = _labels()
    cord, lesion = postprocess(labels, 1.0, PostProcessing(largest_cord=True, drop_outside_cord=True))
    assert not lesion[14:18].any() and lesion[5:8, 5:8, 3:8].all() and lesion[6, 6, 20]
    _, untouched = postprocess(labels, 1.0, PostProcessing(drop_outside_cord=True))
    np.testing.assert_array_equal(untouched, labels == 2)  # without largest_cord every lesion lies in the cord


def test_small_lesions_are_dropped_by_volume_in_mm3():
    labels = _labels()
    _, lesion = postprocess(labels, 0.5, PostProcessing(min_lesion_mm3=1.0))  # voxels of 0.5 mm^3
    assert lesion[5:8, 5:8, 3:8].all() and lesion[15:17, 11, 11].all() and not lesion[6, 6, 20]  # 1 mm^3 kept
    _, lesion = postprocess(labels, 0.5, PostProcessing(min_lesion_mm3=1.01))
    assert not lesion[15:17, 11, 11].any()
    cord, _ = postprocess(labels, 0.5, PostProcessing(min_lesion_mm3=100))
    np.testing.assert_array_equal(cord, labels > 0)  # the cord output keeps its voxels


def test_options_are_checked_and_empty_masks_pass():
    with pytest.raises(InputError, match=">= 0 mm"):
        PostProcessing(min_lesion_mm3=-1)
    empty = np.zeros((4, 4, 4), np.uint8)
    cord, lesion = postprocess(empty, 1.0, PostProcessing(True, True, 5.0))
    assert not cord.any() and not lesion.any()
    assert not largest_component(empty).any()
