"""sclesion.evaluation.detection: ANIMA's detection rule at its edges, size filtering, volume bins and rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclesion.core.errors import InputError
from sclesion.evaluation.detection import VOLUME_BINS, detect_lesions, detection_rates, min_voxels, volume_bins

ISO = (1.0, 1.0, 1.0)  # 1 voxel = 1 mm^3


def bar(length, shape=(120, 5, 5), start=0, row=2):
    """A mask holding one straight lesion of ``length`` voxels along axis 0."""
    mask = np.zeros(shape, np.uint8)
    mask[start : start + length, row, 2] = 1
    return mask


def test_lesion_9_percent_covered_is_missed_11_percent_found():
    ref = bar(100)
    missed = detect_lesions(bar(9), ref, ISO)
    found = detect_lesions(bar(11), ref, ISO)
    assert missed["coverage"].tolist() == [0.09] and not missed["detected"].iloc[0]
    assert found["coverage"].tolist() == [0.11] and found["detected"].iloc[0]
    assert not detect_lesions(bar(10), ref, ISO)["detected"].iloc[0]  # exactly 10% is not more than 10%


def test_prediction_mostly_outside_every_lesion_does_not_count():
    ref = bar(20)
    assert not detect_lesions(bar(71), ref, ISO)["detected"].iloc[0]  # 51/71 = 71.8% outside
    assert detect_lesions(bar(66), ref, ISO)["detected"].iloc[0]  # 46/66 = 69.7% outside
    assert detect_lesions(bar(100, start=0), bar(30), ISO)["detected"].iloc[0]  # exactly 70% outside counts


def test_only_components_making_up_65_percent_of_the_overlap_are_checked():
    ref = bar(20)  # voxels 0-19
    # clean part covers 0-13 (14 voxels inside); stray part covers 15-79 (5 inside, 60 outside: 92% outside)
    table = detect_lesions(bar(14) | bar(65, start=15), ref, ISO)
    assert table["coverage"].iloc[0] == pytest.approx(19 / 20)
    assert table["detected"].iloc[0]  # 14/19 = 74% >= 65%: the stray component is never checked
    # clean part 0-11 (12/19 = 63% < 65%), so the stray part 13-79 (60 of 67 outside) is checked and voids it
    table = detect_lesions(bar(12) | bar(67, start=13), ref, ISO)
    assert table["coverage"].iloc[0] == pytest.approx(19 / 20)
    assert not table["detected"].iloc[0]


def test_components_below_3_mm3_are_ignored_on_both_sides():
    assert detect_lesions(bar(2), bar(2), ISO).empty  # 2 mm^3 reference lesion: not a lesion
    assert len(detect_lesions(bar(3), bar(3), ISO)) == 1
    ref = bar(10)
    two_voxel_prediction = bar(2)  # 20% coverage, but the component is under 3 mm^3
    table = detect_lesions(two_voxel_prediction, ref, ISO)
    assert table["coverage"].tolist() == [0.0] and not table["detected"].iloc[0]


def test_minimum_size_follows_voxel_volume():
    spacing = (0.7, 1.0, 1.0)  # 0.7 mm^3 voxels: ceil(3 / 0.7) = 5 voxels
    assert min_voxels(3.0, spacing) == 5
    assert detect_lesions(bar(4), bar(4), spacing).empty  # 2.8 mm^3
    table = detect_lesions(bar(5), bar(5), spacing)
    assert table["volume_mm3"].tolist() == [pytest.approx(3.5)] and table["detected"].iloc[0]
    assert min_voxels(3.0, (0.5, 0.5, 4.0)) == 3


def test_one_row_per_lesion_with_volume_in_mm3_and_bin():
    ref = bar(5) | bar(60, start=10) | bar(120 - 80, start=80, row=4)
    pred = bar(60, start=10)
    table = detect_lesions(pred, ref, (0.5, 0.5, 4.0))  # 1 mm^3 per voxel
    assert table["lesion"].tolist() == [1, 2, 3]
    assert table["volume_mm3"].tolist() == [5.0, 60.0, 40.0]
    assert table["volume_bin"].astype(str).tolist() == ["3-10", "50-100", "10-50"]
    assert table["detected"].tolist() == [False, True, False]


def test_empty_masks_give_an_empty_table():
    table = detect_lesions(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), ISO)
    assert table.empty
    assert list(table.columns) == ["lesion", "n_voxels", "volume_mm3", "volume_bin", "coverage", "detected"]


def test_volume_bins_are_left_closed():
    bins = volume_bins([2.9, 3.0, 9.99, 10.0, 50.0, 99.9, 100.0, 5000.0])
    assert [None if pd.isna(b) else b for b in bins] == [
        None, "3-10", "3-10", "10-50", "50-100", "50-100", ">=100", ">=100",
    ]  # fmt: skip
    assert list(bins.categories) == list(VOLUME_BINS)


def test_detection_rates_per_bin_and_chunk_with_counts():
    lesions = pd.DataFrame(
        {
            "chunk": [1, 1, 1, 2, 2],
            "volume_bin": pd.Categorical(["3-10", "3-10", ">=100", "10-50", "10-50"], categories=VOLUME_BINS),
            "detected": [True, False, True, True, True],
        }
    )
    per_bin = detection_rates(lesions).set_index("volume_bin")
    assert per_bin.loc["3-10", ["n_lesions", "n_detected"]].tolist() == [2, 1]
    assert per_bin.loc["3-10", "rate"] == 0.5 and per_bin.loc["10-50", "rate"] == 1.0
    assert per_bin.loc["50-100", "n_lesions"] == 0 and np.isnan(per_bin.loc["50-100", "rate"])
    per_chunk = detection_rates(lesions, by=["chunk"]).set_index("chunk")
    assert per_chunk["rate"].tolist() == [pytest.approx(2 / 3), 1.0]
    as_text = detection_rates(lesions.assign(volume_bin=lesions["volume_bin"].astype(str)))  # as read from CSV
    assert as_text["volume_bin"].tolist() == list(VOLUME_BINS) and as_text["n_lesions"].tolist() == [2, 2, 0, 1]
    with pytest.raises(InputError, match="no column site"):
        detection_rates(lesions, by=["site"])


# --- each ANIMA parameter at its edge, on small 3D masks with anisotropic voxels ---------------------------

ANISO = (0.5, 0.5, 3.0)  # 0.75 mm^3 voxels: the 3 mm^3 minimum is 4 voxels
THIN = (0.6, 0.5, 1.0)  # 0.3 mm^3 voxels: 3 mm^3 is exactly 10 voxels


def mask(*boxes, shape=(30, 12, 6)):
    """A uint8 mask, 1 inside each box (a tuple of slices)."""
    out = np.zeros(shape, np.uint8)
    for box in boxes:
        out[box] = 1
    return out


def only_row(table: pd.DataFrame) -> pd.Series:
    assert len(table) == 1
    return table.iloc[0]


@pytest.mark.parametrize("covered, found", [(20, False), (21, True)])
def test_alpha_coverage_of_exactly_10_percent_is_missed(covered, found):
    ref = mask(np.s_[0:20, 0:5, 0:2])  # 200 voxels = 150 mm^3
    pred = mask(np.s_[0:10, 0, 0:2], *([np.s_[10, 0, 0]] if covered == 21 else []))  # 20 or 21 voxels, inside
    row = only_row(detect_lesions(pred, ref, ANISO))
    assert row["coverage"] == covered / 200
    assert row["detected"] == found  # more than 10 % is needed: 20/200 is missed, 21/200 found


@pytest.mark.parametrize("outside, found", [(70, True), (71, False)])
def test_beta_outside_fraction_of_exactly_70_percent_is_allowed(outside, found):
    ref = mask(np.s_[0:3, 0:5, 0:2])  # 30 voxels
    stray = mask(np.s_[3:10, 0:5, 0:2], *([np.s_[10, 0, 0]] if outside == 71 else []))  # 70 or 71 voxels
    pred = ref | stray  # one component: 30 voxels inside the lesion, 70 or 71 outside it
    assert int(stray.sum()) == outside
    assert only_row(detect_lesions(pred, ref, ANISO))["detected"] == found  # 70/100 is not more than 70 %


def gamma_case(stray_rows: int, outside: int, clean_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A 44-voxel lesion (rows 0-21, columns 0-1) and two predicted components covering 40 of its voxels.

    The *stray* component covers rows 0..stray_rows-1 of the lesion and reaches ``outside`` voxels out of it
    (columns 2 onwards, column by column); after one uncovered row the *clean* component covers the next
    ``clean_rows`` rows, inside the lesion only. The stray component comes first in raster order and is the
    larger one: only the overlap may decide which component is checked first.
    """
    assert 2 * (stray_rows + clean_rows) == 40
    ref = mask(np.s_[0:22, 0:2, 0])
    pred = mask(np.s_[0:stray_rows, 0:2, 0], np.s_[stray_rows + 1 : stray_rows + 1 + clean_rows, 0:2, 0])
    columns, rest = divmod(outside, stray_rows)
    pred[0:stray_rows, 2 : 2 + columns, 0] = 1
    pred[0:rest, 2 + columns, 0] = 1
    return pred, ref


def test_gamma_first_component_reaching_65_percent_is_enough():
    pred, ref = gamma_case(stray_rows=7, outside=56, clean_rows=13)  # stray: 14 in, 56 out (80 %)
    row = only_row(detect_lesions(pred, ref, ANISO))
    assert row["coverage"] == 40 / 44
    assert row["detected"]  # clean: 26 of the 40 covered voxels = exactly 65 %: the stray one is not checked


@pytest.mark.parametrize("stray_rows, outside, clean_rows, found", [
    (8, 64, 12, False),  # clean 24/40 = 60 %; stray 64/80 = 80 % outside: voids the detection
    (9, 42, 11, True),  # clean 22/40 = 55 %; stray 42/60 = exactly 70 % outside: allowed
    (9, 43, 11, False),  # stray 43/61 = 70.5 % outside
])
def test_gamma_second_component_needed_to_reach_65_percent_is_checked(stray_rows, outside, clean_rows, found):
    pred, ref = gamma_case(stray_rows, outside, clean_rows)
    assert int(pred.sum()) - 40 == outside
    assert only_row(detect_lesions(pred, ref, ANISO))["detected"] == found


@pytest.mark.parametrize("voxels, kept", [(10, True), (9, False)])
def test_reference_lesion_of_3_mm3_is_kept_and_below_is_removed(voxels, kept):
    ref = mask(np.s_[0:voxels, 0, 0], np.s_[20:30, 0:4, 0])  # a small lesion and a 40-voxel one (12 mm^3)
    table = detect_lesions(ref, ref, THIN)
    assert min_voxels(3.0, THIN) == 10
    assert table["volume_mm3"].tolist() == ([pytest.approx(3.0)] if kept else []) + [pytest.approx(12.0)]
    assert table["volume_bin"].astype(str).tolist() == (["3-10"] if kept else []) + ["10-50"]
    assert table["detected"].all()


@pytest.mark.parametrize("voxels, found", [(10, True), (9, False)])
def test_predicted_component_below_3_mm3_does_not_cover(voxels, found):
    ref = mask(np.s_[0:20, 0:2, 0])  # 40 voxels = 12 mm^3
    pred = mask(np.s_[0:voxels, 0, 0])  # 3.0 or 2.7 mm^3, all inside the lesion
    row = only_row(detect_lesions(pred, ref, THIN))
    assert row["coverage"] == (voxels / 40 if found else 0.0)
    assert row["detected"] == found


def test_removed_reference_lesion_counts_as_outside():
    # one predicted component over a 30-voxel lesion, a 6-voxel bridge, a 9-voxel (2.7 mm^3, removed) lesion and
    # 56 other voxels: 71/101 outside once the small lesion is removed ("as if never drawn"), 62/101 if kept
    lesion, small = np.s_[0:3, 0:5, 0:2], np.s_[0:9, 11, 0]
    ref = mask(lesion, small)
    pred = mask(lesion, np.s_[0, 5:11, 0], small, np.s_[3:10, 0:4, 0:2])
    assert int(pred.sum()) == 101
    assert not only_row(detect_lesions(pred, ref, THIN))["detected"]
    kept = detect_lesions(pred, ref, THIN, min_volume_mm3=2.0)  # with the small lesion kept: 62/101 outside
    assert kept["detected"].tolist() == [True, True]
