"""The results chapters' composite figures (paper Fig 5-8), built on :mod:`sclesion.figures.distributions`.

Every function takes tidy tables (one row per observation, pair or lesion) and returns a
:class:`matplotlib.figure.Figure` at most :data:`sclesion.figures.slices.TEXT_WIDTH_IN` wide, closed in pyplot.

- :func:`raincloud_panels`: one raincloud row per metric with a shared legend, significance brackets per
  metric (paper Fig 5: x = chunk, hue = method; Fig 6: x = dataset variant, hue = 2D/3D).
- :func:`pvalue_matrix`: the lower triangle of a pairwise p-value matrix (e.g. Dunn/Holm over the 8 models),
  coloured by p on a log scale, significant cells starred.
- :func:`lesion_count_scatter`: reference against predicted lesion count per session, one panel per model,
  with the identity line.
- :func:`detection_vs_volume`: per-lesion detection (0/1, jittered) against lesion volume (log axis) with a
  fitted logistic curve and its 50% point (:class:`sclesion.evaluation.detection_curve.DetectionCurve`).
- :func:`detection_by_size`: Fig 7, the detection rate per volume bin (with 95% intervals and other sources'
  rates) beside detection against the true lesion volume.
- :func:`detection_by_chunk`: Fig 8, the lesion-volume histogram of each chunk (own y scale) above the
  detection rate per volume bin and chunk.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sclesion.evaluation.detection_curve import DetectionCurve
from sclesion.core.errors import InputError
from sclesion.evaluation.detection import VOLUME_BIN_EDGES_MM3
from sclesion.evaluation.stats import stars
from sclesion.figures.distributions import (
    DETECTED_COLOUR, MISSED_COLOUR, STYLE, colours, detection_rate_bars, new_figure, raincloud, raincloud_handles,
    require_columns, volume_histograms,
)  # fmt: skip
from sclesion.figures.slices import TEXT_WIDTH_IN

#: Smallest p-value the colour scale of :func:`pvalue_matrix` resolves (smaller ones get its darkest colour).
P_FLOOR: float = 1e-4


def raincloud_panels(
    data: pd.DataFrame,
    values: Mapping[str, str],
    x: str,
    hue: str,
    order: Sequence | None = None,
    hue_order: Sequence | None = None,
    brackets: pd.DataFrame | None = None,
    alpha: float = 0.05,
    xlabel: str | None = None,
    palette: Mapping | None = None,
    row_height: float = 2.9,
    seed: int = 0,
) -> Figure:
    """Rainclouds of several metrics, one row each, sharing x groups, hue colours and one legend below.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table: one row per observation with the ``x`` and ``hue`` columns and every metric column.
    values : mapping of str to str
        Metric column -> y-axis label with units, top row first, e.g. ``{"Dice": "Cord Dice",
        "RVE": "Relative volume error (%)"}``.
    x, hue : str
        Grouping along x (e.g. ``"chunk"``) and in colour (e.g. ``"method"``).
    order, hue_order : sequence, optional
        Group orders; default the order of first appearance. Hue labels are shown in full (a stand-in keeps
        its name).
    brackets : pandas.DataFrame, optional
        Pairwise p-values: ``metric`` (a key of ``values``), ``group1``, ``group2``, ``p`` (optionally ``stars``),
        and optionally the ``x`` column for pairs within each x group (then ``group1``/``group2`` are hue
        levels); see :func:`sclesion.figures.distributions.raincloud`. Pairs with ``p < alpha`` are drawn.
    alpha : float, default 0.05
    xlabel : str, optional
        x-axis label of the bottom row (default ``x``).
    palette : mapping, optional
        Colour per hue level (default :func:`sclesion.figures.distributions.colours`).
    row_height : float, default 2.9
        Height of each row (inches).
    seed : int, default 0
        Seed of the points' jitter.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not values:
        raise InputError("no metric to plot")
    require_columns(data, [x, hue, *values])
    if brackets is not None:
        require_columns(brackets, ["metric", "group1", "group2", "p"])
    hue_order = list(hue_order) if hue_order is not None else list(dict.fromkeys(data[hue].dropna()))
    colors = colours(hue_order, palette)
    handles = raincloud_handles(hue_order, colors)
    ncol = len(handles) if sum(len(str(h.get_label())) for h in handles) <= 60 else 2
    with matplotlib.rc_context(STYLE):
        legend_in = 0.3 + 0.2 * int(np.ceil(len(handles) / ncol))
        fig = new_figure((TEXT_WIDTH_IN, row_height * len(values) + legend_in))
        axes = fig.subplots(len(values), 1, squeeze=False)[:, 0]
        for row, (ax, (metric, label)) in enumerate(zip(axes, values.items())):
            pairs = None if brackets is None else brackets[brackets["metric"] == metric].drop(columns="metric")
            raincloud(data, metric, x, hue, order=order, hue_order=hue_order, brackets=pairs, alpha=alpha,
                      ylabel=label, xlabel=xlabel, seed=seed + row, ax=ax, palette=colors, legend=False)  # fmt: skip
            if row < len(values) - 1:
                ax.set_xlabel("")
        fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, title=hue)
        fig.tight_layout(rect=(0, legend_in / fig.get_size_inches()[1], 1, 1))
    return fig


def pvalue_matrix(
    pairs: pd.DataFrame,
    order: Sequence[str] | None = None,
    title: str | None = None,
    alpha: float = 0.05,
    colorbar_label: str = "p (Dunn's test, Holm-adjusted)",
    ax: Axes | None = None,
) -> Figure:
    """Lower triangle of a pairwise p-value matrix, coloured by p (log scale), significant cells starred.

    Parameters
    ----------
    pairs : pandas.DataFrame
        One row per pair: ``group1``, ``group2``, ``p`` (e.g. :func:`sclesion.evaluation.stats.dunn_holm`, 28 rows
        for 8 groups). Missing pairs stay blank.
    order : sequence of str, optional
        Group order along both axes; default the order of first appearance in ``group1`` then ``group2``.
    title : str, optional
    alpha : float, default 0.05
        Cells with ``p < alpha`` get their stars (* < .05, ** < .01, *** < .001); the others "ns".
    colorbar_label : str
    ax : matplotlib Axes, optional
        Draw here (with a colour bar beside it); by default on a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(pairs, ["group1", "group2", "p"])
    groups = list(order) if order is not None else list(dict.fromkeys([*pairs["group1"], *pairs["group2"]]))
    if len(groups) < 2:
        raise InputError("a p-value matrix needs at least two groups")
    unknown = sorted({*pairs["group1"], *pairs["group2"]} - set(groups))
    if unknown:
        raise InputError(f"pair group {unknown[0]!r} is not in the order {groups}")
    index = {g: i for i, g in enumerate(groups)}
    n = len(groups)
    matrix = np.full((n - 1, n - 1), np.nan)  # row i: groups[i + 1]; column j: groups[j]; j <= i
    for row in pairs.itertuples(index=False):
        a, b = sorted((index[row.group1], index[row.group2]))
        if a != b:
            matrix[b - 1, a] = float(row.p)
    cmap = sns.color_palette("rocket", as_cmap=True)
    norm = LogNorm(vmin=P_FLOOR, vmax=1.0)
    with matplotlib.rc_context(STYLE):
        own = ax is None
        if own:
            fig = new_figure((min(TEXT_WIDTH_IN, 1.6 + 0.55 * n + 1.2), 1.4 + 0.45 * n))
            ax = fig.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(np.clip(matrix, P_FLOOR, 1.0)), cmap=cmap, norm=norm)
        for i in range(n - 1):
            for j in range(i + 1):
                p = matrix[i, j]
                if np.isnan(p):
                    continue
                dark = norm(max(p, P_FLOOR)) < 0.6
                label = stars(p) if p < alpha else "ns"
                ax.text(j, i, label, ha="center", va="center", fontsize=8 if p >= alpha else 9,
                        color="white" if dark else "black", gid="pvalue-star" if p < alpha else "pvalue-ns")
        ax.set_xticks(range(n - 1), [str(g) for g in groups[:-1]], rotation=40, ha="right",
                      rotation_mode="anchor")  # fmt: skip
        ax.set_yticks(range(n - 1), [str(g) for g in groups[1:]])
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
        bar.set_label(colorbar_label)
        if title:
            ax.set_title(title)
        if own:
            fig.tight_layout()
    return ax.figure


def lesion_count_scatter(
    counts: pd.DataFrame,
    model: str = "model",
    reference: str = "n_reference",
    predicted: str = "n_predicted",
    order: Sequence[str] | None = None,
    hue: str | None = None,
    ncols: int = 4,
    palette: Mapping | None = None,
    jitter: float = 0.15,
    seed: int = 0,
) -> Figure:
    """Reference against predicted lesion count per session, one panel per model, with the identity line.

    Parameters
    ----------
    counts : pandas.DataFrame
        One row per (model, session[, fold]): columns ``model``, ``reference`` and ``predicted`` (counts).
    model, reference, predicted : str
        Column names.
    order : sequence of str, optional
        Panel order (default: first appearance); names are wrapped, never shortened.
    hue : str, optional
        Column that colours the points (e.g. ``"configuration"``, as in the rainclouds), with a legend; by
        default one colour.
    ncols : int, default 4
        Panels per row.
    palette : mapping, optional
        Colour per ``hue`` level (default :func:`sclesion.figures.distributions.colours`).
    jitter : float, default 0.15
        Half-width of the uniform jitter added to both counts so that equal pairs stay visible (the axes show
        whole counts).
    seed : int, default 0

    Returns
    -------
    matplotlib.figure.Figure
        Every panel has the same integer axes starting at 0.
    """
    require_columns(counts, [model, reference, predicted] + ([hue] if hue else []))
    if counts.empty:
        raise InputError("no lesion counts to plot")
    models = list(order) if order is not None else list(dict.fromkeys(counts[model]))
    levels = list(dict.fromkeys(counts[hue])) if hue else [None]
    colors = colours(levels, palette)
    rng = np.random.default_rng(seed)
    top = float(np.nanmax(counts[[reference, predicted]].to_numpy(dtype=float))) + 0.5
    ncols = min(ncols, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    with matplotlib.rc_context(STYLE):
        fig = new_figure((TEXT_WIDTH_IN, 0.4 + 1.95 * nrows + (0.55 if hue else 0.0)))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
        for k, ax in enumerate(axes.ravel()):
            if k >= len(models):
                ax.set_visible(False)
                continue
            ax.plot([-0.5, top], [-0.5, top], color="0.5", linestyle="--", linewidth=0.8, zorder=1)
            for level in levels:
                part = counts[(counts[model] == models[k]) & ((counts[hue] == level) if hue else True)]
                ref = part[reference].to_numpy(dtype=float)
                pred = part[predicted].to_numpy(dtype=float)
                ax.scatter(ref + rng.uniform(-jitter, jitter, ref.size),
                           pred + rng.uniform(-jitter, jitter, pred.size), s=12, color=colors[level], alpha=0.7,
                           linewidths=0, zorder=2, label=None if level is None else str(level))  # fmt: skip
            ax.set_xlim(-0.5, top)
            ax.set_ylim(-0.5, top)
            ax.set_aspect("equal")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            ax.set_title(textwrap.fill(str(models[k]), 28, break_on_hyphens=False), fontsize=9)
            if k % ncols == 0:
                ax.set_ylabel("Predicted lesions")
            if k // ncols == nrows - 1 or k + ncols >= len(models):
                ax.set_xlabel("Reference lesions")
                ax.xaxis.set_tick_params(labelbottom=True)
        bottom = 0.0
        if hue:
            handles = [Line2D([], [], marker="o", color="none", markerfacecolor=colors[level], markeredgewidth=0,
                              label=str(level)) for level in levels]  # fmt: skip
            handles.append(Line2D([], [], color="0.5", linestyle="--", label="identity (predicted = reference)"))
            fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, title=hue)
            bottom = 0.55 / fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def detection_vs_volume(
    lesions: pd.DataFrame,
    curve: DetectionCurve | None = None,
    volume: str = "volume_mm3",
    detected: str = "detected",
    xlabel: str = "True lesion volume (mm³)",
    title: str | None = None,
    ax: Axes | None = None,
    seed: int = 0,
) -> Figure:
    """Detection (0/1, jittered) of each lesion against its volume, log x axis, with a fitted curve.

    Parameters
    ----------
    lesions : pandas.DataFrame
        One row per lesion: ``volume`` (mm^3, > 0) and ``detected`` (bool).
    curve : DetectionCurve, optional
        A fitted logistic detection curve (:func:`sclesion.evaluation.detection_curve.fit_detection_curve`),
        drawn over the lesions' volumes; its 50% point is marked and labelled. A curve that could not be fitted
        is not drawn.
    volume, detected : str
        Column names.
    xlabel, title : str
    ax : matplotlib Axes, optional
    seed : int, default 0
        Seed of the vertical jitter.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(lesions, [volume, detected])
    volumes = lesions[volume].to_numpy(dtype=float)
    if volumes.size and np.any(volumes <= 0):
        raise InputError(f"column {volume} must hold positive volumes (mm^3) for a log axis")
    found = lesions[detected].astype(bool).to_numpy()
    rng = np.random.default_rng(seed)
    with matplotlib.rc_context(STYLE):
        own = ax is None
        if own:
            fig = new_figure((4.2, 3.2))
            ax = fig.add_subplot()
        y = found.astype(float) + rng.uniform(-0.06, 0.06, found.size)
        for flag, name, color in ((True, "detected", DETECTED_COLOUR), (False, "missed", MISSED_COLOUR)):
            ax.scatter(volumes[found == flag], y[found == flag], s=10, color=color, alpha=0.6, linewidths=0,
                       label=f"{name} lesion (n={int(np.sum(found == flag))})", zorder=3)  # fmt: skip
        for edge in VOLUME_BIN_EDGES_MM3[1:-1]:
            ax.axvline(edge, color="0.8", linewidth=0.7, linestyle=":", zorder=0)
        if curve is not None and curve.fitted:
            points = curve.grid()
            grid, probability, v50 = points["volume_mm3"], points["probability"], curve.volume50_mm3
            ax.plot(grid, probability, color="black", linewidth=1.3, label="logistic fit", zorder=4)
            if np.isfinite(v50):
                ax.plot([v50, v50], [-0.1, 0.5], color="black", linestyle="--", linewidth=0.8, zorder=4)
                ax.plot([v50], [0.5], marker="o", color="black", markersize=5, zorder=5, gid="fifty-percent")
                ax.annotate(f"50% at {v50:.3g} mm³", (v50, 0.5), xytext=(6, -2), textcoords="offset points",
                            ha="left", va="top", fontsize=8)  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(-0.12, 1.12)
        ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Detected (0 / 1), P(detected)")
        if title:
            ax.set_title(title)
        ax.legend(frameon=False, loc="center right", bbox_to_anchor=(1.0, 0.3))
        if own:
            fig.tight_layout()
    return ax.figure


def detection_by_size(
    rates: pd.DataFrame,
    lesions: pd.DataFrame | None = None,
    curve: DetectionCurve | None = None,
    references: pd.DataFrame | None = None,
    x: str = "volume_bin",
    label: str = "this book",
    seed: int = 0,
) -> Figure:
    """Fig 7: detection rate per volume bin beside detection against the true lesion volume.

    Parameters
    ----------
    rates : pandas.DataFrame
        Columns ``x`` (volume bin), ``n_lesions``, ``n_detected``, ``rate``, and ``low``, ``high`` (95% interval);
        all fractions in [0, 1]. See :func:`sclesion.figures.distributions.detection_rate_bars`.
    lesions : pandas.DataFrame, optional
        Per-lesion ``volume_mm3`` (true volume) and ``detected``, for the right panel (omitted without it).
    curve : DetectionCurve, optional
        Logistic fit of the right panel's lesions; see :func:`detection_vs_volume`.
    references : pandas.DataFrame, optional
        Other sources' rates: ``x``, ``rate``, ``source``.
    x : str, default "volume_bin"
    label : str
        Legend label of our bars.
    seed : int, default 0

    Returns
    -------
    matplotlib.figure.Figure
    """
    with matplotlib.rc_context(STYLE):
        fig = new_figure((TEXT_WIDTH_IN, 3.4))
        if lesions is None:
            axes = [fig.add_subplot()]
        else:
            axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": (1.0, 1.1)})
        detection_rate_bars(rates, x=x, references=references, label=label, ax=axes[0], legend="below",
                            title="Detection rate per volume bin")  # fmt: skip
        if lesions is not None:
            detection_vs_volume(lesions, curve, ax=axes[1], seed=seed, title="Detection against true volume")
            axes[1].legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
        fig.tight_layout()
    return fig


def detection_by_chunk(
    lesions: pd.DataFrame,
    rates: pd.DataFrame,
    by: str = "chunk",
    x: str = "volume_bin",
    n_bins: int = 20,
) -> Figure:
    """Fig 8: lesion-volume histogram per chunk (own y scales) above the detection rate per bin and chunk.

    Parameters
    ----------
    lesions : pandas.DataFrame
        One row per reference lesion: ``by``, ``volume_mm3``, ``detected`` (see
        :func:`sclesion.figures.distributions.volume_histograms`).
    rates : pandas.DataFrame
        Columns ``x``, ``by``, ``n_lesions``, ``n_detected``, ``rate`` and optionally ``low``, ``high`` (95%
        interval), fractions in [0, 1].
    by : str, default "chunk"
    x : str, default "volume_bin"
        Bars per ``x`` and ``by`` (coloured by ``by``); with ``x == by``, one bar per chunk (the pooled rate).
    n_bins : int, default 20
        Log-spaced histogram bins over the volume range.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(lesions, [by])
    require_columns(rates, list(dict.fromkeys([x, by])))
    panels = sorted(lesions[by].dropna().unique())
    if not panels:
        raise InputError("no lesions to plot")
    with matplotlib.rc_context(STYLE):
        fig = new_figure((TEXT_WIDTH_IN, 6.0))
        grid = fig.add_gridspec(2, len(panels), height_ratios=(1.0, 1.1))
        top = [fig.add_subplot(grid[0, k]) for k in range(len(panels))]
        volume_histograms(lesions, by=by, n_bins=n_bins, axes=top)
        bottom = fig.add_subplot(grid[1, :])
        if x == by:
            detection_rate_bars(rates, x=x, ax=bottom, xlabel=by.capitalize(), title=f"Detection rate per {by}")
        else:
            detection_rate_bars(rates, x=x, hue=by, ax=bottom, title=f"Detection rate per volume bin and {by}")
        fig.tight_layout()
    return fig
