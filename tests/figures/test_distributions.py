"""sclesion.figures.distributions: figures are returned (not shown), labelled with units, and draw what they are
given."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sclesion.evaluation.detection import VOLUME_BINS, detection_rates  # noqa: E402
from sclesion.core.errors import InputError  # noqa: E402
from sclesion.figures.distributions import Case, detection_rate_bars, qualitative_panel, raincloud, volume_histograms  # noqa: E402


@pytest.fixture
def scores():
    rng = np.random.default_rng(1)
    rows = [
        {"variant": v, "configuration": c, "Dice": float(rng.uniform(0.2, 0.9))}
        for v in ("chunks_native", "stitched_native")
        for c in ("2d", "3d_fullres")
        for _ in range(15)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def lesions():
    return pd.DataFrame(
        {
            "chunk": [1, 1, 1, 2, 2, 3],
            "volume_mm3": [4.0, 20.0, 150.0, 12.0, 60.0, 8.0],
            "volume_bin": pd.Categorical(["3-10", "10-50", ">=100", "10-50", "50-100", "3-10"], categories=VOLUME_BINS),
            "detected": [False, True, True, True, False, True],
        }
    )


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_raincloud_returns_a_closed_labelled_figure_with_brackets_for_significant_pairs(scores):
    brackets = pd.DataFrame(
        {
            "group1": ["chunks_native | 2d", "chunks_native | 2d", "chunks_native | 3d_fullres"],
            "group2": ["stitched_native | 3d_fullres", "chunks_native | 3d_fullres", "stitched_native | 2d"],
            "p": [0.004, 0.2, 0.0004],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = raincloud(scores, "Dice", "variant", "configuration", brackets=brackets, ylabel="Lesion Dice")
    assert isinstance(fig, Figure) and fig.number not in plt.get_fignums()  # not left open in pyplot
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Lesion Dice" and ax.get_xlabel() == "variant"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["chunks_native", "stitched_native"]
    assert sorted(texts(fig)) == ["**", "***"]  # p = 0.2 is not drawn
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2d", "3d_fullres", "mean"]
    assert len(ax.collections) >= 8  # a violin and a point cloud per group


def test_raincloud_takes_dunn_holm_output_as_brackets(scores):
    from sclesion.evaluation.stats import dunn_holm

    scores.loc[scores["variant"] == "stitched_native", "Dice"] -= 0.5  # make some pairs differ
    brackets = dunn_holm(scores, "Dice", ["variant", "configuration"])
    fig = raincloud(scores, "Dice", "variant", "configuration", brackets=brackets)
    assert sorted(texts(fig)) == sorted(brackets.loc[brackets["p"] < 0.05, "stars"])
    assert len(texts(fig)) >= 1


def test_raincloud_rejects_unknown_bracket_groups_and_columns(scores):
    bad = pd.DataFrame({"group1": ["nope | 2d"], "group2": ["chunks_native | 2d"], "p": [0.01]})
    with pytest.raises(InputError, match="bracket group 'nope | 2d' is not a plotted group"):
        raincloud(scores, "Dice", "variant", "configuration", brackets=bad)
    with pytest.raises(InputError, match="no column F1ScoreL"):
        raincloud(scores, "F1ScoreL", "variant")


def test_raincloud_without_hue_and_with_constant_group(scores):
    scores.loc[scores["variant"] == "stitched_native", "Dice"] = 1.0  # no violin possible
    fig = raincloud(scores, "Dice", "variant")
    assert fig.axes[0].get_legend() is None and not texts(fig)


def test_detection_bars_show_rates_in_percent_with_counts(lesions):
    fig = detection_rate_bars(detection_rates(lesions))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Detection rate (%)" and ax.get_xlabel() == "Lesion volume (mm³)"
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([50.0, 100.0, 0.0, 100.0])
    assert texts(fig) == ["n=2", "n=2", "n=1", "n=1"]


def test_detection_bars_per_chunk(lesions):
    fig = detection_rate_bars(detection_rates(lesions, by=["volume_bin", "chunk"]), hue="chunk")
    assert len(fig.axes[0].patches) == 12
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][0] == "chunk 1 (cervical)"


def test_volume_histograms_one_log_panel_per_chunk(lesions):
    fig = volume_histograms(lesions)
    assert len(fig.axes) == 3
    assert all(ax.get_xscale() == "log" and ax.get_xlabel() == "Lesion volume (mm³)" for ax in fig.axes)
    assert fig.axes[0].get_title() == "chunk 1 (cervical)\nn=3, 67% detected"
    assert fig.axes[0].get_ylabel() == "Number of lesions"
    with pytest.raises(InputError, match="no lesions"):
        volume_histograms(lesions.iloc[:0])


def test_qualitative_panel_picks_the_slice_with_most_reference_and_draws_both_contours():
    image = np.random.default_rng(0).random((40, 40, 8))
    ref = np.zeros(image.shape, bool)
    ref[10:20, 10:20, 5] = True
    ref[12:14, 12:14, 2] = True
    pred = np.zeros(image.shape, bool)
    pred[12:22, 10:20, 5] = True
    fig = qualitative_panel([Case(image, ref, pred, "sub-a", (0.5, 0.5, 4.0))])
    ax = fig.axes[0]
    assert ax.get_title() == "sub-a\naxial slice 5"
    assert ax.get_xlabel() == "R → L (mm)" and ax.get_ylabel() == "P → A (mm)"
    assert len(ax.collections) == 2  # one contour set each
    assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(40.0)
    with pytest.raises(InputError, match="must be 3D of one shape"):
        qualitative_panel([Case(image, ref[:, :, :4], pred, "bad")])


def bracket_lines(ax) -> list:
    """The brackets: four-point lines (down, across, across, down)."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) == 4]


def test_brackets_per_x_group_are_drawn_in_their_group_and_share_levels():
    rng = np.random.default_rng(2)
    methods = ["classical (stand-in)", "2D chunks native", "3D stitched native"]
    data = pd.DataFrame([{"chunk": c, "method": m, "Dice": rng.uniform(0.5, 0.9)}
                         for c in (1, 2, 3) for m in methods for _ in range(8)])
    pairs = pd.DataFrame({"chunk": [1, 1, 1, 3, 3, 2], "group1": [methods[0], methods[0], methods[1], methods[0],
                                                                  methods[1], methods[0]],
                          "group2": [methods[1], methods[2], methods[2], methods[2], methods[2], methods[1]],
                          "p": [0.01, 0.0001, 0.2, 0.03, 0.004, 0.5]})
    fig = raincloud(data, "Dice", "chunk", "method", brackets=pairs)
    ax = fig.axes[0]
    assert sorted(texts(fig)) == sorted(["*", "**", "*", "***"])  # the four pairs with p < .05
    lines = bracket_lines(ax)
    assert len(lines) == 4
    # every bracket stays within its chunk (x groups at 0, 1, 2, each 0.8 wide)
    for line in lines:
        x = line.get_xdata()
        assert np.floor(min(x) + 0.5) == np.floor(max(x) + 0.5)
    # compact: the short brackets of chunk 1 and chunk 3 share the lowest level; 3 levels in all
    bottoms = sorted({round(float(min(line.get_ydata())), 6) for line in lines})
    assert len(bottoms) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 (cervical)", "2 (thoracic)", "3 (lumbar)"]
    assert "classical (stand-in)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_raincloud_is_deterministic_and_draws_on_given_axes(scores):
    first = raincloud(scores, "Dice", "variant", "configuration", seed=3)
    fig = plt.figure()
    ax = fig.add_subplot()
    second = raincloud(scores, "Dice", "variant", "configuration", seed=3, ax=ax, legend=False)
    plt.close(fig)
    assert second is fig and ax.get_legend() is None
    offsets = [c.get_offsets() for c in first.axes[0].collections if isinstance(c, PathCollection)]
    again = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    assert len(offsets) == len(again) == 4
    for a, b in zip(offsets, again):
        np.testing.assert_array_equal(a, b)


def test_detection_bars_draw_intervals_and_other_sources_beside_ours(lesions):
    rates = detection_rates(lesions).assign(low=[0.1, 0.2, 0.0, 0.3], high=[0.9, 1.0, 0.95, 1.0])
    references = pd.DataFrame({"volume_bin": ["10-50", "50-100", ">=100", "3-10"], "rate": [0.6, 0.9, 0.9, 0.27],
                               "source": ["paper (text)"] * 3 + ["authors' run"]})
    fig = detection_rate_bars(rates, references=references)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this book", "paper (text)", "authors' run"]
    markers = [c for c in ax.collections if c.get_label() in ("paper (text)", "authors' run")]
    assert [np.isfinite(c.get_offsets()[:, 1]).sum() for c in markers] == [3, 1]
    np.testing.assert_allclose(markers[0].get_offsets()[1:, 1], [60.0, 90.0, 90.0])
    (bars,) = [c for c in ax.collections if c.get_label() not in ("paper (text)", "authors' run")]
    segments = bars.get_segments()  # one error bar per bin, from low to high (%)
    assert [(round(float(s[0][1]), 6), round(float(s[1][1]), 6)) for s in segments] == [
        (10.0, 90.0), (20.0, 100.0), (0.0, 95.0), (30.0, 100.0)]
    # n is written above the interval, not inside it: the empty-looking 50-100 bar (rate 0) at 95%
    assert [round(float(a.xy[1]), 6) for a in ax.texts] == [90.0, 100.0, 95.0, 100.0]
    with pytest.raises(InputError, match="does not contain its rate"):
        detection_rate_bars(rates.assign(low=0.6))


def test_volume_histograms_have_their_own_integer_y_scale(lesions):
    many = pd.concat([lesions, lesions[lesions["chunk"] == 1]] * 3 + [lesions[lesions["chunk"] == 2]],
                     ignore_index=True)
    fig = volume_histograms(many)
    tops = [ax.get_ylim()[1] for ax in fig.axes]
    assert tops[0] > tops[1] > tops[2]  # chunk 1 holds far more lesions: no shared scale
    assert all(float(t).is_integer() for ax in fig.axes for t in ax.get_yticks())
