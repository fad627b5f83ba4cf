"""The study's statistics (paper section 2.6; book/methods.md, "Statistics"), as tidy tables.

- :func:`normality`: D'Agostino and Pearson's test per group (``scipy.stats.normaltest``); it needs at least
  8 values per group.
- :func:`kruskal_wallis`: Kruskal-Wallis H-test across groups (``scipy.stats.kruskal``).
- :func:`dunn_holm`: Dunn's post hoc test for every pair of groups, Holm-adjusted
  (``scikit_posthocs.posthoc_dunn(..., p_adjust="holm")``).
- :func:`paired_wilcoxon`: one-sided Wilcoxon signed-rank test on paired values (e.g. the same test image and
  fold predicted by the 2D and the 3D model).
- :func:`wilson_interval`: Wilson score confidence interval of a proportion (e.g. a detection rate).
- :func:`stars`: the figures' significance labels.

Input tables are long: one row per observation (e.g. per test image and fold), a value column (e.g. ``Dice``)
and group columns (e.g. ``variant`` and ``configuration``). Several group columns are joined into one label
with :func:`group_labels`. Degenerate inputs (too few values, all values equal) give NaN p-values with a
``note``, never a warning or an exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scikit_posthocs
from scipy import stats as scipy_stats

from sclesion.core.errors import InputError

#: Significance level for the ``normal`` flag of :func:`normality`.
ALPHA: float = 0.05

#: Joins the values of several group columns into one group label.
GROUP_SEPARATOR: str = " | "

#: ``scipy.stats.normaltest`` needs at least this many values.
MIN_NORMALTEST_SIZE: int = 8


def stars(p: float) -> str:
    """Significance label of a p-value: ``***`` p < .001, ``**`` p < .01, ``*`` p < .05, else ``ns``; NaN -> ``n/a``."""
    if p is None or np.isnan(p):
        return "n/a"
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return "ns"


def wilson_interval(successes, n, confidence: float = 0.95) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Wilson score confidence interval of a binomial proportion ``successes / n``.

    With ``p = successes / n`` and ``z`` the standard normal quantile at ``(1 + confidence) / 2``, the interval is
    ``(p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``. Unlike the normal (Wald)
    interval it stays within [0, 1] and is not empty at 0 / n or n / n (Wilson 1927).

    Parameters
    ----------
    successes, n : int or array_like of int
        Number of successes (e.g. detected lesions) and of trials (lesions), broadcast against each other;
        ``0 <= successes <= n``.
    confidence : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    low, high : float or numpy.ndarray
        Bounds in [0, 1] (floats for scalar input, arrays of the broadcast shape otherwise); NaN where
        ``n == 0``. ``low`` is 0 at 0 successes and ``high`` is 1 at ``n`` successes.

    Raises
    ------
    InputError
        If counts are negative, not whole, ``successes > n``, or ``confidence`` is not in (0, 1).
    """
    k, trials = np.broadcast_arrays(np.asarray(successes, dtype=float), np.asarray(n, dtype=float))
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must lie in (0, 1), got {confidence}")
    if np.any(~np.isfinite(k) | ~np.isfinite(trials)) or np.any((k < 0) | (k > trials) | (k != np.round(k))
                                                                 | (trials != np.round(trials))):
        raise InputError("counts must be whole numbers with 0 <= successes <= n")
    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / trials
        denominator = 1.0 + z**2 / trials
        centre = (p + z**2 / (2.0 * trials)) / denominator
        half = z * np.sqrt(p * (1.0 - p) / trials + z**2 / (4.0 * trials**2)) / denominator
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == trials, 1.0, np.clip(centre + half, 0.0, 1.0))
    low, high = np.where(trials == 0, np.nan, low), np.where(trials == 0, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def group_labels(data: pd.DataFrame, by: str | Sequence[str]) -> pd.Series:
    """One group label per row: the value of ``by``, or the values of several columns joined by ``" | "``."""
    columns = _columns(data, by)
    labels = data[columns[0]].astype(str)
    for column in columns[1:]:
        labels = labels + GROUP_SEPARATOR + data[column].astype(str)
    return labels.rename("group")


def normality(data: pd.DataFrame, value: str, by: str | Sequence[str]) -> pd.DataFrame:
    """D'Agostino-Pearson normality test of ``value`` within each group.

    Returns
    -------
    pandas.DataFrame
        One row per group (in order of first appearance): ``group``, ``n``, ``statistic``, ``p``, ``normal``
        (p >= 0.05), ``note`` (why p is NaN, else empty).
    """
    groups = _grouped_values(data, value, by)
    rows = []
    for group, values in groups.items():
        row = {"group": group, "n": values.size, "statistic": np.nan, "p": np.nan, "note": ""}
        if values.size < MIN_NORMALTEST_SIZE:
            row["note"] = f"fewer than {MIN_NORMALTEST_SIZE} values"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = scipy_stats.normaltest(values)
            row.update(statistic=float(result.statistic), p=float(result.pvalue))
            if np.isnan(row["p"]):
                row["note"] = "undefined (constant values?)"
        rows.append(row)
    table = pd.DataFrame(rows, columns=["group", "n", "statistic", "p", "normal", "note"])
    table["normal"] = table["p"] >= ALPHA
    return table


def kruskal_wallis(data: pd.DataFrame, value: str, by: str | Sequence[str]) -> pd.Series:
    """Kruskal-Wallis H-test of ``value`` across the groups.

    Returns
    -------
    pandas.Series
        ``n_groups``, ``n``, ``H``, ``p``, ``stars``, ``note``. With fewer than two groups or all values equal,
        ``H`` and ``p`` are NaN and ``note`` says why.
    """
    groups = _grouped_values(data, value, by)
    n = int(sum(v.size for v in groups.values()))
    statistic = p = np.nan
    note = ""
    if len(groups) < 2:
        note = "fewer than two groups"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                statistic, p = (float(x) for x in scipy_stats.kruskal(*groups.values()))
            except ValueError as err:
                note = str(err)
        if np.isnan(p) and not note:
            note = "undefined (all values equal?)"
    return pd.Series({"n_groups": len(groups), "n": n, "H": statistic, "p": p, "stars": stars(p), "note": note})


def dunn_holm(
    data: pd.DataFrame, value: str, by: str | Sequence[str], order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Dunn's test for every pair of groups, p-values adjusted with Holm's method.

    Parameters
    ----------
    data, value, by
        Long table, value column, group column(s) (see module docstring).
    order : sequence of str, optional
        Group labels in the order pairs are listed; by default the order of first appearance.

    Returns
    -------
    pandas.DataFrame
        One row per pair ``group1`` < ``group2`` in ``order``: ``group1``, ``group2``, ``p`` (Holm-adjusted),
        ``stars``.
    """
    groups = group_labels(data, by)
    order = list(dict.fromkeys(groups)) if order is None else list(order)
    unknown = sorted(set(order) - set(groups))
    if unknown:
        raise InputError(f"no rows for group {', '.join(unknown)}")
    long = pd.DataFrame({"value": pd.to_numeric(data[value]).to_numpy(), "group": groups.to_numpy()})
    long = long[long["group"].isin(order) & long["value"].notna()]
    rows = []
    if len(order) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = scikit_posthocs.posthoc_dunn(long, val_col="value", group_col="group", p_adjust="holm")
        for i, first in enumerate(order):
            for second in order[i + 1 :]:
                p = float(matrix.loc[first, second])
                rows.append({"group1": first, "group2": second, "p": p, "stars": stars(p)})
    return pd.DataFrame(rows, columns=["group1", "group2", "p", "stars"])


def paired_wilcoxon(
    data: pd.DataFrame,
    value: str,
    condition: str,
    first: str,
    second: str,
    pair_on: Sequence[str],
    by: str | Sequence[str] | None = None,
    alternative: str = "greater",
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``value`` between two conditions on paired rows.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table.
    value : str
        Value column, e.g. ``"Dice"``.
    condition : str
        Column telling the two conditions apart, e.g. ``"configuration"``.
    first, second : str
        The two conditions, e.g. ``"2d"`` and ``"3d_fullres"``.
    pair_on : sequence of str
        Columns identifying a pair, e.g. ``("participant_id", "session", "fold")``. Rows without a partner are
        left out.
    by : str or sequence of str, optional
        Test separately within each group, e.g. ``"variant"``.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        "greater": ``first`` tends to be larger than ``second`` (one-sided).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group`` (absent when ``by`` is None), ``n_pairs``, ``median_first``,
        ``median_second``, ``statistic``, ``p``, ``stars``, ``alternative``, ``note``.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise InputError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    keys = _columns(data, pair_on)
    frame = data.assign(group=group_labels(data, by) if by is not None else "all")
    rows = []
    for group, part in frame.groupby("group", sort=False):
        wide = part.pivot_table(index=keys, columns=condition, values=value, aggfunc="first")
        if first not in wide.columns or second not in wide.columns:
            pairs = pd.DataFrame(columns=[first, second])
        else:
            pairs = wide[[first, second]].dropna()
        row = {
            "group": group,
            "n_pairs": len(pairs),
            "median_first": float(pairs[first].median()) if len(pairs) else np.nan,
            "median_second": float(pairs[second].median()) if len(pairs) else np.nan,
            "statistic": np.nan,
            "p": np.nan,
            "alternative": alternative,
            "note": "",
        }
        differences = (pairs[first] - pairs[second]).to_numpy(dtype=float)
        if not np.any(differences != 0):
            row["note"] = "no pairs" if not len(pairs) else "all differences are zero"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = scipy_stats.wilcoxon(differences, alternative=alternative)
            row.update(statistic=float(result.statistic), p=float(result.pvalue))
        row["stars"] = stars(row["p"])
        rows.append(row)
    columns = ["group", "n_pairs", "median_first", "median_second", "statistic", "p", "stars", "alternative", "note"]
    table = pd.DataFrame(rows, columns=columns)
    return table.drop(columns="group") if by is None else table


def _columns(data: pd.DataFrame, by: str | Sequence[str]) -> list[str]:
    columns = [by] if isinstance(by, str) else list(by)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InputError(f"table has no column {', '.join(missing)} (columns: {', '.join(map(str, data.columns))})")
    return columns


def _grouped_values(data: pd.DataFrame, value: str, by: str | Sequence[str]) -> dict[str, np.ndarray]:
    """Group label -> the non-missing values of ``value`` in that group, in order of first appearance."""
    _columns(data, [value])
    values = pd.to_numeric(data[value])
    labels = group_labels(data, by)
    return {
        group: part.dropna().to_numpy(dtype=float)
        for group, part in values.groupby(labels, sort=False)
    }
