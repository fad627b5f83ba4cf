"""sclesion.evaluation.stats: agreement with SciPy and a hand-written Dunn/Holm, star thresholds, degenerate inputs."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from sclesion.core.errors import InputError
from sclesion.evaluation.stats import (dunn_holm, group_labels, kruskal_wallis, normality, paired_wilcoxon, stars,
                                      wilson_interval)


@pytest.fixture
def scores():
    """Dice-like scores of 3 variants x 2 configurations, 12 images each, without ties."""
    rng = np.random.default_rng(7)
    rows = []
    for v, variant in enumerate(["chunks_native", "stitched_native", "chunks_straightened"]):
        for c, configuration in enumerate(["2d", "3d_fullres"]):
            for image in range(12):
                rows.append(
                    {
                        "variant": variant,
                        "configuration": configuration,
                        "participant_id": f"sub-{image:02d}",
                        "fold": image % 3,
                        "Dice": 0.4 + 0.1 * v - 0.08 * c + rng.normal(0, 0.1),
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("p", "label"),
    [(0.0009, "***"), (0.001, "**"), (0.0099, "**"), (0.01, "*"), (0.0499, "*"), (0.05, "ns"), (0.7, "ns"),
     (float("nan"), "n/a")],
)  # fmt: skip
def test_star_thresholds(p, label):
    assert stars(p) == label


def test_group_labels_join_columns(scores):
    labels = group_labels(scores, ["variant", "configuration"])
    assert labels.iloc[0] == "chunks_native | 2d" and labels.nunique() == 6


def test_normality_equals_scipy_normaltest(scores):
    table = normality(scores, "Dice", "variant")
    values = scores.loc[scores["variant"] == "stitched_native", "Dice"]
    expected = scipy_stats.normaltest(values)
    row = table.set_index("group").loc["stitched_native"]
    assert row["n"] == 24
    assert row["statistic"] == pytest.approx(expected.statistic) and row["p"] == pytest.approx(expected.pvalue)
    assert row["normal"] == (expected.pvalue >= 0.05)


def test_normality_with_too_few_values_is_nan_with_a_note():
    table = normality(pd.DataFrame({"g": ["a"] * 5, "x": [1.0, 2, 3, 4, 6]}), "x", "g")
    assert np.isnan(table["p"].iloc[0]) and table["note"].iloc[0] == "fewer than 8 values"
    assert not table["normal"].iloc[0]


def test_kruskal_wallis_equals_scipy(scores):
    result = kruskal_wallis(scores, "Dice", ["variant", "configuration"])
    groups = [g["Dice"].to_numpy() for _, g in scores.groupby(["variant", "configuration"], sort=False)]
    expected = scipy_stats.kruskal(*groups)
    assert result["n_groups"] == 6 and result["n"] == 72
    assert result["H"] == pytest.approx(expected.statistic) and result["p"] == pytest.approx(expected.pvalue)
    assert result["stars"] == stars(expected.pvalue)


def test_kruskal_wallis_on_constant_values_is_nan_without_warning():
    data = pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [1.0] * 4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = kruskal_wallis(data, "x", "g")
    assert np.isnan(result["p"]) and result["stars"] == "n/a" and result["note"]


def hand_dunn_holm(groups: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Dunn's z-test on pooled ranks (no ties), two-sided, then Holm's step-down adjustment."""
    pooled = np.concatenate(list(groups.values()))
    ranks = scipy_stats.rankdata(pooled)
    n_total = pooled.size
    mean_rank, sizes, start = {}, {}, 0
    for name, values in groups.items():
        mean_rank[name] = ranks[start : start + values.size].mean()
        sizes[name] = values.size
        start += values.size
    raw = {}
    for a, b in itertools.combinations(groups, 2):
        se = np.sqrt(n_total * (n_total + 1) / 12 * (1 / sizes[a] + 1 / sizes[b]))
        raw[(a, b)] = 2 * scipy_stats.norm.sf(abs(mean_rank[a] - mean_rank[b]) / se)
    ordered = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for i, pair in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - i) * raw[pair]))
        adjusted[pair] = running
    return adjusted


def test_dunn_holm_equals_hand_computation(scores):
    table = dunn_holm(scores, "Dice", "variant")
    groups = {name: g["Dice"].to_numpy() for name, g in scores.groupby("variant", sort=False)}
    expected = hand_dunn_holm(groups)
    assert len(table) == 3
    for row in table.itertuples():
        assert row.p == pytest.approx(expected[(row.group1, row.group2)], rel=1e-9)
        assert row.stars == stars(row.p)


def test_dunn_holm_follows_the_given_order_and_rejects_unknown_groups(scores):
    order = ["stitched_native", "chunks_native"]
    table = dunn_holm(scores, "Dice", "variant", order=order)
    assert table[["group1", "group2"]].values.tolist() == [order]
    with pytest.raises(InputError, match="no rows for group nope"):
        dunn_holm(scores, "Dice", "variant", order=["nope", "chunks_native"])


def test_paired_wilcoxon_pairs_rows_by_keys_and_equals_scipy(scores):
    shuffled = scores.sample(frac=1.0, random_state=3)  # pairing must not rely on row order
    table = paired_wilcoxon(
        shuffled, "Dice", "configuration", "2d", "3d_fullres", pair_on=["participant_id", "fold"], by="variant"
    ).set_index("group")
    part = scores[scores["variant"] == "chunks_native"]
    first = part[part["configuration"] == "2d"].set_index("participant_id")["Dice"]
    second = part[part["configuration"] == "3d_fullres"].set_index("participant_id")["Dice"]
    expected = scipy_stats.wilcoxon(first, second.loc[first.index], alternative="greater")
    row = table.loc["chunks_native"]
    assert row["n_pairs"] == 12 and row["alternative"] == "greater"
    assert row["statistic"] == pytest.approx(expected.statistic) and row["p"] == pytest.approx(expected.pvalue)
    assert row["median_first"] == pytest.approx(first.median())


def test_paired_wilcoxon_degenerate_cases():
    same = pd.DataFrame({"id": [1, 2, 1, 2], "cfg": ["2d", "2d", "3d", "3d"], "x": [0.5, 0.7, 0.5, 0.7]})
    table = paired_wilcoxon(same, "x", "cfg", "2d", "3d", pair_on=["id"])
    assert "group" not in table.columns
    assert table["note"].iloc[0] == "all differences are zero" and table["stars"].iloc[0] == "n/a"
    unpaired = paired_wilcoxon(same, "x", "cfg", "2d", "3d_fullres", pair_on=["id"])
    assert unpaired["n_pairs"].iloc[0] == 0 and unpaired["note"].iloc[0] == "no pairs"
    with pytest.raises(InputError, match="alternative must be"):
        paired_wilcoxon(same, "x", "cfg", "2d", "3d", pair_on=["id"], alternative="bigger")
    with pytest.raises(InputError, match="no column fold"):
        paired_wilcoxon(same, "x", "cfg", "2d", "3d", pair_on=["fold"])


# --- Wilson score interval ---------------------------------------------------------------------------------


def test_wilson_interval_known_value():
    low, high = wilson_interval(8, 10)  # the textbook example: 8 of 10 at 95 %
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    low99, high99 = wilson_interval(8, 10, confidence=0.99)
    assert low99 < low and high99 > high


def test_wilson_interval_at_0_and_n_successes_has_a_closed_form():
    z2 = scipy_stats.norm.ppf(0.975) ** 2
    for n in (1, 5, 40):
        assert wilson_interval(0, n) == (0.0, pytest.approx(z2 / (n + z2)))
        assert wilson_interval(n, n) == (pytest.approx(n / (n + z2)), 1.0)


def test_wilson_interval_is_vectorised_symmetric_and_nan_without_trials():
    successes, n = np.array([[0, 3, 7], [2, 0, 9]]), np.array([[4, 10, 7], [5, 0, 20]])
    low, high = wilson_interval(successes, n)
    assert low.shape == high.shape == (2, 3)
    assert np.isnan(low[1, 1]) and np.isnan(high[1, 1])
    ok = n > 0
    assert np.all((0 <= low[ok]) & (low[ok] <= successes[ok] / n[ok]) & (successes[ok] / n[ok] <= high[ok]))
    mirror_low, mirror_high = wilson_interval(n - successes, n)
    np.testing.assert_allclose(low[ok], 1 - mirror_high[ok])
    np.testing.assert_allclose(high[ok], 1 - mirror_low[ok])


def test_wilson_interval_matches_statsmodels_where_installed():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(0, 7), (1, 3), (8, 10), (27, 100), (95, 95)]:
        expected = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
        assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("successes, n, confidence", [(11, 10, 0.95), (-1, 10, 0.95), (2.5, 10, 0.95),
                                                      (1, 10, 1.0), (1, 10, 0.0)])
def test_wilson_interval_refuses_impossible_counts(successes, n, confidence):
    with pytest.raises(InputError):
        wilson_interval(successes, n, confidence)
