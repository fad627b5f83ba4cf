"""sclesion.evaluation.metrics: hand-computed values, every empty-mask case, and equality with a literal re-statement of
MetricsReloaded's algorithms (full volume, one loop per lesion) on random small masks."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from sclesion.core.errors import InputError
from sclesion.evaluation.metrics import (
    ALL_COLUMNS,
    METRICS,
    bounding_box,
    compute_metrics,
    cross_check,
    dice,
    lesion_scores,
    match_lesions,
    metrics_reloaded,
    metrics_reloaded_available,
    normalized_surface_distance,
    relative_volume_error,
    split_regions,
    surface,
    union_box,
)


def empty(shape=(7, 7, 7)):
    return np.zeros(shape, dtype=bool)


def voxels(*points, shape=(7, 7, 7)):
    mask = empty(shape)
    for point in points:
        mask[point] = True
    return mask


# --- MetricsReloaded, restated literally (the oracle) ----------------------------------------------------


def literal_metrics(pred, ref, tau=1.0, spacing=None):
    """MetricsReloaded's definitions as its code computes them: full-volume, one lesion at a time."""
    pred, ref = pred.astype(np.float64), ref.astype(np.float64)
    n_pred, n_ref = pred.sum(), ref.sum()
    out = {"Dice": 1.0 if n_pred + n_ref == 0 else 2 * (pred * ref).sum() / (n_pred + n_ref)}

    def border(mask):
        as_int = mask.astype(np.int8)
        return as_int - ndimage.binary_erosion(as_int)

    border_ref, border_pred = border(ref), border(pred)
    dist_ref = border_pred * ndimage.distance_transform_edt(1 - border_ref, sampling=spacing)
    dist_pred = border_ref * ndimage.distance_transform_edt(1 - border_pred, sampling=spacing)
    numerator = np.sum(border_pred * (dist_ref <= tau)) + np.sum(border_ref * (dist_pred <= tau))
    denominator = border_ref.sum() + border_pred.sum()
    out["NSD"] = numerator / denominator if denominator else math.nan
    if n_ref == 0:
        out["RVE"] = 0.0 if n_pred == 0 else 100.0
    else:
        out["RVE"] = (n_pred - n_ref) / n_ref * 100
    tp = fn = fp = 0
    ref_labels, n_ref_lesions = ndimage.label(ref)
    for index in range(1, n_ref_lesions + 1):
        lesion = ref_labels == index
        if np.sum(lesion * pred) / np.sum(lesion) >= 0.1:
            tp += 1
        else:
            fn += 1
    pred_labels, n_pred_lesions = ndimage.label(pred)
    for index in range(1, n_pred_lesions + 1):
        if np.max((pred_labels == index) + ref) <= 1:
            fp += 1
    if n_ref == 0 and n_pred == 0:
        out.update(PPVL=1.0, SensL=1.0, F1ScoreL=1.0)
    elif n_pred == 0 or n_ref == 0:
        out.update(PPVL=0.0, SensL=tp / (tp + fn) if tp + fn else 1.0, F1ScoreL=0.0)
    else:
        out.update(
            PPVL=tp / (tp + fp) if tp + fp else 0.0,  # MetricsReloaded raises here; see the module docstring
            SensL=tp / (tp + fn),
            F1ScoreL=tp / (tp + (fp + fn) / 2),
        )
    out.update(RefLesionsCount=n_ref_lesions, PredLesionsCount=n_pred_lesions)
    out["abs_delta_lesion_count"] = abs(n_ref_lesions - n_pred_lesions)
    out.update(LesionTP=tp, LesionFP=fp, LesionFN=fn)
    return out


def assert_same(ours, theirs):
    if ours["EmptyRef"] != ours["EmptyPred"]:  # MetricsReloaded's NSD then depends on a phantom point
        assert ours["NSD"] == 0.0
        theirs = {key: value for key, value in theirs.items() if key != "NSD"}
    for key, value in theirs.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(ours[key]), key
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12), key


shapes = st.tuples(st.integers(2, 9), st.integers(2, 9), st.integers(2, 6))
masks = arrays(bool, shapes, elements=st.booleans())


@st.composite
def mask_pairs(draw):
    """Two masks of one shape, each with its own density (sparse lesions to nearly full volumes)."""
    shape = draw(shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = st.sampled_from([0.0, 0.03, 0.1, 0.3, 0.6, 0.95])
    return rng.random(shape) < draw(density), rng.random(shape) < draw(density)


@settings(max_examples=200, deadline=None)
@given(pair=mask_pairs())
def test_fast_metrics_equal_metricsreloaded_restated(pair):
    pred, ref = pair
    assert_same(compute_metrics(pred, ref), literal_metrics(pred, ref))


@settings(max_examples=80, deadline=None)
@given(pair=mask_pairs(), tau=st.sampled_from([0.5, 1.0, 2.0, 4.5]))
def test_nsd_in_mm_equals_restatement_on_anisotropic_voxels(pair, tau):
    pred, ref = pair
    spacing = (0.5, 0.5, 4.0)
    if ref.any() and pred.any():  # with one mask empty MetricsReloaded's value depends on a phantom point
        expected = literal_metrics(pred, ref, tau, spacing)["NSD"]
        assert normalized_surface_distance(pred, ref, tau, spacing) == pytest.approx(expected, abs=1e-12)


def test_far_apart_structures_match_restatement():
    """Surfaces in separate clusters: distances must never leak between clusters."""
    ref, pred = empty((40, 30, 12)), empty((40, 30, 12))
    ref[2:6, 2:6, 1:4] = True
    pred[3:7, 2:6, 1:4] = True
    ref[30:34, 20:25, 6:11] = True
    pred[30:33, 21:25, 7:11] = True
    pred[15, 15, 5] = True  # lone false positive, far from any reference surface
    ref[36:39, 1:3, 0:2] = True  # missed lesion at the array edge
    assert_same(compute_metrics(pred, ref), literal_metrics(pred, ref))
    for tau in (1.0, 2.0, 6.0):
        expected = literal_metrics(pred, ref, tau, (0.5, 0.5, 4.0))["NSD"]
        assert normalized_surface_distance(pred, ref, tau, (0.5, 0.5, 4.0)) == pytest.approx(expected)


# --- hand-computed values -------------------------------------------------------------------------------


def test_dice_by_hand():
    ref = voxels((1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 4))
    pred = voxels((1, 1, 3), (1, 1, 4), (1, 1, 5))
    assert dice(pred, ref) == pytest.approx(2 * 2 / 7)


def test_relative_volume_error_by_hand_and_sign():
    ref = voxels((1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 4))
    assert relative_volume_error(voxels((0, 0, 0)), ref) == -75.0
    assert relative_volume_error(voxels(*[(2, 2, k) for k in range(6)]), ref) == 50.0


def test_surface_of_cubes():
    cube = empty((5, 5, 5))
    cube[1:4, 1:4, 1:4] = True
    assert np.count_nonzero(surface(cube)) == 26  # all but the centre
    assert np.count_nonzero(surface(np.ones((3, 3, 3)))) == 26  # outside the array counts as background
    assert np.count_nonzero(surface(np.ones((2, 2, 2)))) == 8


def test_nsd_by_hand_in_voxels():
    ref = voxels((3, 3, 3))
    assert normalized_surface_distance(voxels((3, 3, 4)), ref) == 1.0  # 1 voxel away: inclusive
    assert normalized_surface_distance(voxels((3, 4, 4)), ref) == 0.0  # sqrt(2) voxels away
    # pred surface: (3,3,4) within 1 of ref, (3,3,6) not; ref surface: within 1 of (3,3,4)
    assert normalized_surface_distance(voxels((3, 3, 4), (3, 3, 6)), ref) == pytest.approx(2 / 3)
    assert normalized_surface_distance(voxels((3, 4, 4)), ref, tau=1.5) == 1.0


def test_nsd_by_hand_in_mm():
    ref, spacing = voxels((3, 3, 3)), (0.5, 0.5, 4.0)
    assert normalized_surface_distance(voxels((3, 3, 4)), ref, 1.0, spacing) == 0.0  # 4 mm apart
    assert normalized_surface_distance(voxels((3, 3, 4)), ref, 4.0, spacing) == 1.0
    assert normalized_surface_distance(voxels((4, 3, 3)), ref, 1.0, spacing) == 1.0  # 0.5 mm apart
    assert normalized_surface_distance(voxels((5, 4, 3)), ref, 1.0, spacing) == 0.0  # sqrt(1.25) mm apart


def test_lesion_overlap_rule_at_ten_percent():
    ref = empty((12, 3, 3))
    ref[0:10, 1, 1] = True  # one lesion of 10 voxels
    one_voxel = voxels((0, 1, 1), shape=ref.shape)
    assert match_lesions(one_voxel, ref).tp == 1  # 1/10 = 10% counts
    ref20 = empty((22, 3, 3))
    ref20[0:20, 1, 1] = True
    touch = voxels((0, 1, 1), shape=ref20.shape)  # 5% of the lesion
    match = match_lesions(touch, ref20)
    assert (match.tp, match.fn, match.fp) == (0, 1, 0)  # not found, yet touching: not a false positive
    assert lesion_scores(match) == {"PPVL": 0.0, "SensL": 0.0, "F1ScoreL": 0.0}


def test_lesion_counts_use_six_connectivity():
    diagonal = voxels((1, 1, 1), (2, 2, 1))  # share an edge only: two lesions
    face = voxels((1, 1, 1), (2, 1, 1))
    assert compute_metrics(diagonal, face)["PredLesionsCount"] == 2
    assert compute_metrics(diagonal, face)["RefLesionsCount"] == 1


def test_lesion_scores_by_hand():
    shape = (20, 5, 5)
    ref = voxels((1, 1, 1), (5, 1, 1), (9, 1, 1), (13, 1, 1), shape=shape)  # 4 lesions
    pred = voxels((1, 1, 1), (5, 1, 1), (9, 1, 1), (17, 1, 1), (17, 3, 3), shape=shape)  # 3 TP, 2 FP
    result = compute_metrics(pred, ref)
    assert (result["LesionTP"], result["LesionFP"], result["LesionFN"]) == (3, 2, 1)
    assert result["PPVL"] == pytest.approx(3 / 5)
    assert result["SensL"] == pytest.approx(3 / 4)
    assert result["F1ScoreL"] == pytest.approx(3 / (3 + 1.5))
    assert result["abs_delta_lesion_count"] == 1


# --- empty masks: the table of the module docstring ------------------------------------------------------


def test_both_empty():
    result = compute_metrics(empty(), empty())
    assert math.isnan(result.pop("NSD"))
    assert result == {
        "Dice": 1.0, "RVE": 0.0, "PPVL": 1.0, "SensL": 1.0, "F1ScoreL": 1.0,
        "RefLesionsCount": 0, "PredLesionsCount": 0, "abs_delta_lesion_count": 0,
        "LesionTP": 0, "LesionFP": 0, "LesionFN": 0, "EmptyRef": True, "EmptyPred": True,
    }  # fmt: skip


def test_only_reference_empty():
    result = compute_metrics(voxels((2, 2, 2), (5, 5, 5)), empty())
    assert result == {
        "Dice": 0.0, "NSD": 0.0, "RVE": 100.0, "PPVL": 0.0, "SensL": 1.0, "F1ScoreL": 0.0,
        "RefLesionsCount": 0, "PredLesionsCount": 2, "abs_delta_lesion_count": 2,
        "LesionTP": 0, "LesionFP": 2, "LesionFN": 0, "EmptyRef": True, "EmptyPred": False,
    }  # fmt: skip


def test_only_prediction_empty():
    result = compute_metrics(empty(), voxels((2, 2, 2)))
    assert result == {
        "Dice": 0.0, "NSD": 0.0, "RVE": -100.0, "PPVL": 0.0, "SensL": 0.0, "F1ScoreL": 0.0,
        "RefLesionsCount": 1, "PredLesionsCount": 0, "abs_delta_lesion_count": 1,
        "LesionTP": 0, "LesionFP": 0, "LesionFN": 1, "EmptyRef": False, "EmptyPred": True,
    }  # fmt: skip


def test_result_keys_are_the_papers_names_in_order():
    assert tuple(compute_metrics(empty(), empty())) == ALL_COLUMNS
    assert METRICS[:2] == ("Dice", "NSD") and "F1ScoreL" in METRICS and "abs_delta_lesion_count" in METRICS


# --- properties -------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(pair=mask_pairs())
def test_symmetries_and_ranges(pair):
    pred, ref = pair
    forward, backward = compute_metrics(pred, ref), compute_metrics(ref, pred)
    assert forward["Dice"] == backward["Dice"] and 0.0 <= forward["Dice"] <= 1.0
    if not math.isnan(forward["NSD"]):
        assert forward["NSD"] == pytest.approx(backward["NSD"]) and 0.0 <= forward["NSD"] <= 1.0
    for key in ("PPVL", "SensL", "F1ScoreL"):
        assert 0.0 <= forward[key] <= 1.0
    assert forward["RVE"] >= -100.0


@settings(max_examples=40, deadline=None)
@given(mask=masks)
def test_identical_masks_score_perfectly(mask):
    result = compute_metrics(mask, mask)
    assert result["Dice"] == 1.0 and result["RVE"] == 0.0 and result["F1ScoreL"] == 1.0
    assert result["NSD"] == 1.0 or not mask.any()


@settings(max_examples=40, deadline=None)
@given(mask=masks, pad=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)))
def test_zero_padding_changes_nothing_but_the_array_edge(mask, pad):
    """Padding moves the mask away from the array edge; with a 1-voxel background rim already there, the
    metrics must not change."""
    pred = np.roll(mask, 1, axis=0)
    rim = [(1, 1)] * 3
    base = compute_metrics(np.pad(pred, rim), np.pad(mask, rim))
    padded = compute_metrics(np.pad(pred, [(1 + p, 1) for p in pad]), np.pad(mask, [(1 + p, 1) for p in pad]))
    assert_same(padded, base)


# --- helpers and errors -----------------------------------------------------------------------------------


def test_split_regions():
    label_map = np.array([[[0, 1, 2, 1]]], dtype=np.uint8)
    cord, lesion = split_regions(label_map)
    assert cord.tolist() == [[[False, True, True, True]]]
    assert lesion.tolist() == [[[False, False, True, False]]]


def test_bounding_box_and_union_box():
    mask = voxels((1, 2, 3), (4, 2, 5))
    assert bounding_box(mask) == (slice(1, 5), slice(2, 3), slice(3, 6))
    assert bounding_box(empty()) is None
    box = union_box([bounding_box(mask), None, (slice(0, 1), slice(6, 7), slice(3, 4))])
    assert box == (slice(0, 5), slice(2, 7), slice(3, 6))
    assert union_box([None, None]) is None


def test_shape_mismatch_and_bad_tau_are_input_errors():
    with pytest.raises(InputError, match=r"prediction shape \(7, 7, 7\) differs from reference shape \(7, 7, 6\)"):
        compute_metrics(empty(), empty((7, 7, 6)))
    with pytest.raises(InputError, match="tolerance must be >= 0"):
        normalized_surface_distance(voxels((1, 1, 1)), voxels((1, 1, 1)), tau=-1)
    with pytest.raises(InputError, match="spacing must hold 3 positive"):
        normalized_surface_distance(voxels((1, 1, 1)), voxels((1, 1, 1)), spacing=(1, 1))


# --- MetricsReloaded backend -----------------------------------------------------------------------------


def test_metricsreloaded_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "MetricsReloaded", None)  # import fails as if not installed
    assert not metrics_reloaded_available()
    with pytest.raises(ImportError, match="pip install git\\+https://github.com/ivadomed/MetricsReloaded"):
        metrics_reloaded(voxels((1, 1, 1)), voxels((1, 1, 1)))


def fake_metricsreloaded(monkeypatch, values):
    """Install a stand-in MetricsReloaded whose measures return ``values`` (name -> value)."""

    class BinaryPairwiseMeasures:
        def __init__(self, pred, ref, measures, pixdim, dict_args):
            assert pred.dtype == np.float64 and dict_args == {"nsd": 1.0}
            self.measures_dict = {key: (lambda key=key: values[key], key) for key in measures}

    package = types.ModuleType("MetricsReloaded")
    for name in ("MetricsReloaded.metrics", "MetricsReloaded.metrics.pairwise_measures"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["MetricsReloaded.metrics.pairwise_measures"].BinaryPairwiseMeasures = BinaryPairwiseMeasures
    monkeypatch.setitem(sys.modules, "MetricsReloaded", package)


def test_cross_check_flags_disagreements(monkeypatch):
    pred, ref = voxels((1, 1, 1), (1, 1, 2)), voxels((1, 1, 2), (1, 1, 3))
    ours = compute_metrics(pred, ref)
    values = {"dsc": ours["Dice"], "nsd": ours["NSD"], "rel_vol_error": ours["RVE"], "lesion_ppv": ours["PPVL"],
              "lesion_sensitivity": ours["SensL"], "lesion_f1_score": 0.123,
              "ref_count": 1, "pred_count": 1}  # fmt: skip
    fake_metricsreloaded(monkeypatch, values)
    assert metrics_reloaded_available()
    table = cross_check(pred, ref)
    assert table.loc[~table["agree"], "metric"].tolist() == ["F1ScoreL"]
    assert table.set_index("metric").loc["abs_delta_lesion_count", "metricsreloaded"] == 0
