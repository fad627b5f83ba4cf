"""sclesion.figures.results: the composite figures draw what their tables say (stars, markers, scales, labels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from sclesion.evaluation.detection_curve import DetectionCurve, fit_detection_curve
from sclesion.core.errors import InputError  # noqa: E402
from sclesion.evaluation.detection import detection_rates, volume_bins  # noqa: E402
from sclesion.figures.results import (  # noqa: E402
    detection_by_chunk, detection_by_size, detection_vs_volume, lesion_count_scatter,
    pvalue_matrix, raincloud_panels,
)
from sclesion.figures.slices import TEXT_WIDTH_IN  # noqa: E402

METHODS = ["classical cord segmentation (stand-in)", "2D chunks native", "3D stitched native"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def cord_scores():
    rng = np.random.default_rng(4)
    return pd.DataFrame([{"chunk": c, "method": m, "Dice": rng.uniform(0.6, 0.95), "RVE": rng.normal(0, 10)}
                         for c in (1, 2, 3) for m in METHODS for _ in range(10)])


@pytest.fixture
def lesions():
    rng = np.random.default_rng(5)
    volumes = np.exp(rng.uniform(np.log(3), np.log(300), 60))
    table = pd.DataFrame({"volume_mm3": volumes, "detected": volumes > rng.uniform(5, 40, volumes.size),
                          "chunk": np.r_[np.ones(35, int), np.full(17, 2), np.full(8, 3)]})
    return table.assign(volume_bin=volume_bins(volumes))


def with_intervals(rates: pd.DataFrame) -> pd.DataFrame:
    return rates.assign(low=rates["rate"] * 0.8, high=np.minimum(rates["rate"] * 1.1, 1.0))


def star_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if "*" in t.get_text()]


def test_raincloud_panels_one_row_per_metric_with_their_own_brackets(cord_scores):
    pairs = pd.DataFrame({"metric": ["Dice", "Dice", "RVE", "Dice"], "chunk": [3, 3, 3, 1],
                          "group1": [METHODS[0], METHODS[0], METHODS[0], METHODS[1]],
                          "group2": [METHODS[1], METHODS[2], METHODS[2], METHODS[2]],
                          "p": [0.0005, 0.02, 0.004, 0.3]})
    fig = raincloud_panels(cord_scores, {"Dice": "Cord Dice", "RVE": "Relative volume error (%)"}, x="chunk",
                           hue="method", brackets=pairs, xlabel="Chunk (spinal level)")
    top, bottom = fig.axes
    assert fig.get_size_inches()[0] <= TEXT_WIDTH_IN
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("Cord Dice", "Relative volume error (%)")
    assert (top.get_xlabel(), bottom.get_xlabel()) == ("", "Chunk (spinal level)")
    assert sorted(star_texts(top)) == ["*", "***"] and star_texts(bottom) == ["**"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [*METHODS, "mean"]  # the stand-in keeps its full name


def test_raincloud_panels_refuse_a_bracket_table_without_metric(cord_scores):
    with pytest.raises(InputError, match="no column metric"):
        raincloud_panels(cord_scores, {"Dice": "Dice"}, "chunk", "method",
                         brackets=pd.DataFrame({"group1": [], "group2": [], "p": []}))


def test_pvalue_matrix_fills_the_lower_triangle_and_stars_the_significant_pairs():
    groups = ["a | 2d", "a | 3d", "b | 2d", "b | 3d"]
    pairs = pd.DataFrame([(groups[i], groups[j]) for i in range(4) for j in range(i + 1, 4)],
                         columns=["group1", "group2"]).assign(p=[0.0002, 0.5, 0.03, 0.007, 1.0, 0.2])
    fig = pvalue_matrix(pairs, title="Lesion Dice")
    ax = fig.axes[0]
    stars = sorted(t.get_text() for t in ax.texts if t.get_gid() == "pvalue-star")
    assert stars == ["*", "**", "***"]
    assert len([t for t in ax.texts if t.get_gid() == "pvalue-ns"]) == 3
    matrix = ax.images[0].get_array()
    assert matrix.shape == (3, 3) and matrix.mask.sum() == 3  # the upper triangle stays empty
    assert matrix[0, 0] == pytest.approx(0.0002)  # row a | 3d, column a | 2d
    assert matrix[2, 1] == pytest.approx(1.0) and matrix[2, 2] == pytest.approx(0.2)  # row b | 3d
    assert [t.get_text() for t in ax.get_yticklabels()] == groups[1:]
    assert [t.get_text() for t in ax.get_xticklabels()] == groups[:-1]
    with pytest.raises(InputError, match="not in the order"):
        pvalue_matrix(pairs, order=groups[:3])


def test_lesion_count_scatter_one_panel_per_model_with_identity_and_integer_axes():
    rng = np.random.default_rng(6)
    models = [f"{v} {c}" for v in ("chunks native", "stitched straightened") for c in ("2D", "3D")]
    models.append("classical lesion detector, thresholded (stand-in)")
    counts = pd.DataFrame([{"model": m, "configuration": m.split()[-1] if m[-1] == "D" else "classical",
                            "n_reference": int(rng.integers(0, 6)),
                            "n_predicted": int(rng.integers(0, 7))} for m in models for _ in range(9)])
    fig = lesion_count_scatter(counts, hue="configuration", ncols=3)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5 and fig.get_size_inches()[0] <= TEXT_WIDTH_IN
    assert [ax.get_title() for ax in shown][-1] == "classical lesion detector,\nthresholded (stand-in)"
    for ax in shown:
        points = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
        assert points == 9
        identity = ax.get_lines()[0]
        np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
        assert all(float(t).is_integer() for t in ax.get_xticks())
    assert shown[0].get_xlim() == shown[-1].get_xlim()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["2D", "3D", "classical",
                                                                  "identity (predicted = reference)"]


def test_detection_vs_volume_marks_and_labels_the_fifty_percent_point(lesions):
    curve = DetectionCurve(intercept=-2 * np.log(12.0), slope=2 * np.log(10), volume50_mm3=12.0,
                           n_lesions=len(lesions), n_detected=int(lesions["detected"].sum()), volume_range_mm3=(3, 300))
    fig = detection_vs_volume(lesions, curve)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "True lesion volume (mm³)"
    (mark,) = [line for line in ax.get_lines() if line.get_gid() == "fifty-percent"]
    assert mark.get_xdata()[0] == pytest.approx(12.0, rel=1e-2) and mark.get_ydata()[0] == 0.5
    assert [t.get_text() for t in ax.texts] == ["50% at 12 mm³"]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in points] == [lesions["detected"].sum(), (~lesions["detected"]).sum()]
    with pytest.raises(InputError, match="positive volumes"):
        detection_vs_volume(lesions.assign(volume_mm3=0.0))


def test_detection_by_size_puts_rates_and_true_volume_side_by_side(lesions):
    rates = with_intervals(detection_rates(lesions))
    references = pd.DataFrame({"volume_bin": ["10-50", "50-100"], "rate": [0.6, 0.9], "source": ["paper"] * 2})
    curve = fit_detection_curve(lesions["volume_mm3"], lesions["detected"], min_lesions=2)
    fig = detection_by_size(rates, lesions, curve, references)
    left, right = fig.axes
    assert fig.get_size_inches()[0] <= TEXT_WIDTH_IN
    assert left.get_ylabel() == "Detection rate (%)" and right.get_xscale() == "log"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["this book", "paper"]
    assert [t.get_text() for t in left.texts] == [f"n={n}" for n in rates["n_lesions"]]
    assert len(detection_by_size(rates).axes) == 1


def test_detection_by_chunk_histograms_keep_their_own_scale(lesions):
    rates = with_intervals(detection_rates(lesions, by=["volume_bin", "chunk"]))
    fig = detection_by_chunk(lesions, rates)
    *histograms, bars = fig.axes
    assert len(histograms) == 3
    tops = [ax.get_ylim()[1] for ax in histograms]
    assert tops[0] > tops[2]  # 35 lesions in chunk 1, 8 in chunk 3: no shared y
    assert [t.get_text() for t in bars.get_legend().get_texts()] == [
        "chunk 1 (cervical)", "chunk 2 (thoracic)", "chunk 3 (lumbar)"]
    assert len(bars.texts) == len(rates)  # n above every bar


def test_detection_by_chunk_with_one_pooled_bar_per_chunk(lesions):
    rates = with_intervals(detection_rates(lesions, by=["chunk"]))
    fig = detection_by_chunk(lesions, rates, x="chunk")
    bars = fig.axes[-1]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["1 (cervical)", "2 (thoracic)", "3 (lumbar)"]
    assert bars.get_xlabel() == "Chunk" and [t.get_text() for t in bars.texts] == ["n=35", "n=17", "n=8"]
    assert [p.get_height() for p in bars.patches] == pytest.approx(100 * rates["rate"].to_numpy())
