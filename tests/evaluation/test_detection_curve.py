"""sclesion.evaluation.detection_curve: the logistic detection curve, its 50 % point and when it cannot be fitted."""

from __future__ import annotations

import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.evaluation.detection_curve import MIN_LESIONS, fit_detection_curve

TRUE_V50_MM3 = 20.0
TRUE_SLOPE = 3.0  # log-odds per tenfold volume


def simulated(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lesion volumes log-uniform in [3, 1000] mm^3, detected with the known logistic probability."""
    rng = np.random.default_rng(seed)
    volumes = 10 ** rng.uniform(np.log10(3.0), 3.0, n)
    probability = 1 / (1 + np.exp(-TRUE_SLOPE * (np.log10(volumes) - np.log10(TRUE_V50_MM3))))
    return volumes, rng.random(n) < probability


def test_simulated_detections_give_back_the_50_percent_point():
    volumes, detected = simulated()
    curve = fit_detection_curve(volumes, detected)
    assert curve.fitted and curve.reason == ""
    assert curve.volume50_mm3 == pytest.approx(TRUE_V50_MM3, rel=0.10)
    assert curve.slope == pytest.approx(TRUE_SLOPE, rel=0.15)
    assert curve.volume50_mm3 == pytest.approx(10 ** (-curve.intercept / curve.slope))
    assert curve.probability(curve.volume50_mm3) == pytest.approx(0.5)
    assert (curve.n_lesions, curve.n_detected) == (4000, int(detected.sum()))
    assert fit_detection_curve(volumes, detected) == curve  # deterministic


def test_fit_is_the_maximum_likelihood_estimate():
    volumes, detected = simulated(n=300, seed=1)
    curve = fit_detection_curve(volumes, detected)
    x = np.log10(volumes)

    def log_likelihood(a, b):
        eta = a + b * x
        return np.sum(detected * eta - np.logaddexp(0, eta))

    best = log_likelihood(curve.intercept, curve.slope)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        assert log_likelihood(curve.intercept + da, curve.slope + db) < best
    logit = pytest.importorskip("statsmodels.discrete.discrete_model").Logit
    params = logit(detected.astype(float), np.column_stack([np.ones_like(x), x])).fit(disp=0).params
    assert (curve.intercept, curve.slope) == (pytest.approx(params[0], abs=1e-6), pytest.approx(params[1], abs=1e-6))


def test_grid_spans_the_lesion_volumes_for_plotting():
    volumes, detected = simulated(n=500)
    curve = fit_detection_curve(volumes, detected)
    grid = curve.grid(n_points=50)
    assert list(grid.columns) == ["volume_mm3", "probability"] and len(grid) == 50
    assert grid["volume_mm3"].iloc[[0, -1]].tolist() == pytest.approx([volumes.min(), volumes.max()])
    assert np.all(np.diff(grid["probability"]) > 0)  # detection rises with volume here
    assert curve.grid(n_points=3, volume_range_mm3=(1.0, 100.0))["volume_mm3"].tolist() == pytest.approx([1, 10, 100])


@pytest.mark.parametrize(
    "volumes, detected, reason",
    [
        (np.arange(1, 13), [True] * 12, "every lesion was detected"),
        (np.arange(1, 13), [False] * 12, "no lesion was detected"),
        (np.arange(1, MIN_LESIONS), [False, True] * 4 + [True], "too few lesions"),
        (np.full(12, 7.0), [False, True] * 6, "same volume"),
        (np.arange(1, 13), [False] * 5 + [True] * 7, "separated by volume"),  # complete separation
        (np.arange(1, 13), [True] * 5 + [False] * 7, "separated by volume"),  # the reverse
        ([3, 4, 5, 5, 6, 7, 8, 9, 10, 11], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1], "separated by volume"),  # touching
    ],
)
def test_no_curve_without_a_finite_maximum_likelihood_estimate(volumes, detected, reason):
    curve = fit_detection_curve(volumes, detected)
    assert not curve.fitted and reason in curve.reason
    assert np.isnan([curve.intercept, curve.slope, curve.volume50_mm3]).all()
    assert curve.grid(n_points=4)["probability"].isna().all()


def test_overlapping_detected_and_missed_lesions_are_fitted():
    # one missed lesion larger than one detected lesion: no separation, a finite (steep) curve
    curve = fit_detection_curve(np.arange(1, 11), [0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    assert curve.fitted and 4 < curve.volume50_mm3 < 5


def test_no_lesions_and_bad_input():
    empty = fit_detection_curve([], [])
    assert not empty.fitted and empty.n_lesions == 0 and empty.grid().empty
    with pytest.raises(InputError, match="2 volumes but 3"):
        fit_detection_curve([1, 2], [True, False, True])
    with pytest.raises(InputError, match="finite and positive"):
        fit_detection_curve([0.0, 2.0], [True, False])
    with pytest.raises(InputError, match="True/False"):
        fit_detection_curve([1.0, 2.0], [0.5, 1])
