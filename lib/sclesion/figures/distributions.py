"""The study's figures: raincloud plots, detection-rate bars, lesion-volume histograms and a qualitative panel.

Every function returns a :class:`matplotlib.figure.Figure` (closed in pyplot, so a notebook shows it once, as
the cell's result) with labelled axes and units. Colours come from seaborn's colour-blind palette.

- :func:`raincloud`: half violin + box (with a mean marker) + jittered points per group, groups along x
  (e.g. dataset variant) with a hue (e.g. 2D/3D), and significance brackets from
  :func:`sclesion.evaluation.stats.dunn_holm` (paper Fig 5, Fig 6).
- :func:`detection_rate_bars`: detection rate per lesion-volume bin (optionally per chunk), with the number of
  lesions on each bar (paper Fig 7, Fig 8).
- :func:`volume_histograms`: lesion volumes per chunk on a log axis, detected and missed lesions stacked
  (paper Fig 8).
- :func:`plot_lesion_volumes`: lesion volumes per site and split on a log axis (paper Fig 3).
- :func:`qualitative_panel`: axial slices with the reference and predicted contours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from matplotlib.ticker import MaxNLocator

from sclesion.core.errors import InputError
from sclesion.data.split import in_study_order
from sclesion.evaluation.stats import GROUP_SEPARATOR, stars
from sclesion.figures.slices import TEXT_WIDTH_IN, draw_axial_slice, most_informative_slice

#: Names of the chunks (1..3, cranio-caudal).
CHUNK_NAMES: dict[int, str] = {1: "cervical", 2: "thoracic", 3: "lumbar"}

#: Colour of each split in the cohort's figures.
SPLIT_COLOURS: dict[str, str] = {"train": "#3b75af", "test": "#d1603d"}

#: Contour colours of the qualitative panel.
REFERENCE_COLOR, PREDICTION_COLOR = "#1b9e77", "#d95f02"

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 300,
    "figure.dpi": 110,
}


def raincloud(
    data: pd.DataFrame,
    value: str,
    x: str,
    hue: str | None = None,
    order: Sequence[str] | None = None,
    hue_order: Sequence[str] | None = None,
    brackets: pd.DataFrame | None = None,
    alpha: float = 0.05,
    ylabel: str | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    seed: int = 0,
) -> Figure:
    """Raincloud plot of ``value`` per ``x`` group, split by ``hue``, with significance brackets.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per observation (e.g. per test image and fold).
    value : str
        Column plotted on the y axis, e.g. ``"Dice"``.
    x : str
        Grouping along the x axis, e.g. ``"variant"``.
    hue : str, optional
        Second grouping shown side by side and in colour, e.g. ``"configuration"`` (2D / 3D).
    order, hue_order : sequence of str, optional
        Order of the groups; by default the order of first appearance.
    brackets : pandas.DataFrame, optional
        Columns ``group1``, ``group2``, ``p`` (and optionally ``stars``), as :func:`sclesion.evaluation.stats.dunn_holm`
        returns when called with ``by=[x, hue]``: group labels are ``"<x> | <hue>"`` (just ``"<x>"`` without hue).
        Only pairs with ``p < alpha`` are drawn, shortest first.
    alpha : float, default 0.05
        Significance level for drawing a bracket.
    ylabel, xlabel, title : str, optional
        Axis labels (default: the column names) and title.
    seed : int, default 0
        Seed of the horizontal jitter of the points.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(data, [value, x] + ([hue] if hue else []))
    order = _levels(data[x], order)
    hue_order = _levels(data[hue], hue_order) if hue else [None]
    colors = dict(zip(hue_order, sns.color_palette("colorblind", len(hue_order))))
    rng = np.random.default_rng(seed)
    slot = 0.8 / len(hue_order)
    centers = {}
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure((1.0 + (0.9 + 0.45 * len(hue_order)) * len(order), 3.8))
        ax = fig.add_subplot()
        for i, group in enumerate(order):
            for j, level in enumerate(hue_order):
                center = i - 0.4 + (j + 0.5) * slot
                label = group if hue is None else f"{group}{GROUP_SEPARATOR}{level}"
                centers[label] = center
                chosen = data[x] == group if hue is None else (data[x] == group) & (data[hue] == level)
                values = pd.to_numeric(data.loc[chosen, value]).dropna().to_numpy(dtype=float)
                if values.size:
                    _one_cloud(ax, values, center, slot, colors[level], rng)
        ax.set_xticks(range(len(order)), [str(g) for g in order])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or value)
        if title:
            ax.set_title(title)
        if hue:
            handles = [Patch(facecolor=colors[level], alpha=0.7, label=str(level)) for level in hue_order]
            handles.append(Line2D([], [], marker="D", color="none", markerfacecolor="white", markeredgecolor="black",
                                  label="mean"))  # fmt: skip
            ax.legend(handles=handles, title=hue, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if brackets is not None:
            _brackets(ax, brackets, centers, alpha)
        fig.tight_layout()
    return fig


def detection_rate_bars(
    rates: pd.DataFrame, x: str = "volume_bin", hue: str | None = None, xlabel: str = "Lesion volume (mm³)",
    title: str | None = None,
) -> Figure:  # fmt: skip
    """Bars of the detection rate (%) per ``x`` group, optionally per ``hue`` group, with ``n`` on each bar.

    Parameters
    ----------
    rates : pandas.DataFrame
        Output of :func:`sclesion.evaluation.detection.detection_rates`: columns ``x`` (and ``hue``), ``n_lesions``,
        ``n_detected``, ``rate`` (fraction in [0, 1]).
    x : str, default "volume_bin"
        Column along the x axis.
    hue : str, optional
        Column shown side by side, e.g. ``"chunk"``.
    xlabel, title : str
        Axis label and optional title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(rates, [x, "n_lesions", "rate"] + ([hue] if hue else []))
    groups = _levels(rates[x], None)
    levels = _levels(rates[hue], None) if hue else [None]
    colors = dict(zip(levels, sns.color_palette("colorblind", len(levels))))
    width = 0.8 / len(levels)
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure((max(3.6, 0.45 * len(groups) * len(levels) + 2.2), 3.2))
        ax = fig.add_subplot()
        for j, level in enumerate(levels):
            part = rates if hue is None else rates[rates[hue] == level]
            part = part.set_index(x).reindex(groups)
            positions = np.arange(len(groups)) - 0.4 + (j + 0.5) * width
            heights = 100.0 * part["rate"].fillna(0.0).to_numpy(dtype=float)
            label = None if hue is None else _chunk_label(hue, level)
            bars = ax.bar(positions, heights, width * 0.9, color=colors[level], label=label)
            for bar, n in zip(bars, part["n_lesions"].fillna(0).astype(int)):
                ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(range(len(groups)), [str(g) for g in groups])
        ax.set_ylim(0, 112)
        ax.set_ylabel("Detection rate (%)")
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title)
        if hue:
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
    return fig


def volume_histograms(lesions: pd.DataFrame, by: str = "chunk", n_bins: int = 20) -> Figure:
    """Histograms of lesion volume (mm³, log axis), one panel per ``by`` group, detected and missed stacked.

    Parameters
    ----------
    lesions : pandas.DataFrame
        One row per reference lesion with ``volume_mm3`` and ``detected`` (see
        :func:`sclesion.evaluation.detection.detect_lesions`) and the ``by`` column.
    by : str, default "chunk"
        One panel per value (each panel has its own y scale, as in the paper's Fig 8).
    n_bins : int, default 20
        Number of logarithmically spaced bins over the volume range.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(lesions, ["volume_mm3", "detected", by])
    if lesions.empty:
        raise InputError("no lesions to plot")
    panels = sorted(lesions[by].dropna().unique())
    volumes = lesions["volume_mm3"].to_numpy(dtype=float)
    edges = np.geomspace(max(volumes.min(), 1e-3), max(volumes.max(), volumes.min() * 1.01), n_bins + 1)
    detected_color, missed_color = sns.color_palette("colorblind", 2)
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure((3.0 * len(panels), 3.0))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, level in zip(axes, panels):
            part = lesions[lesions[by] == level]
            found = part["detected"].astype(bool)
            ax.hist([part.loc[found, "volume_mm3"], part.loc[~found, "volume_mm3"]], bins=edges, stacked=True,
                    color=[detected_color, missed_color], label=["detected", "missed"])  # fmt: skip
            ax.set_xscale("log")
            ax.set_xlabel("Lesion volume (mm³)")
            rate = 100.0 * found.mean() if len(part) else float("nan")
            ax.set_title(f"{_chunk_label(by, level)}\n{len(part)} lesions, {rate:.0f}% detected")
        axes[0].set_ylabel("Number of lesions")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_lesion_volumes(volumes: pd.DataFrame, bins_per_decade: int = 6) -> Figure:
    """Fig 3-like: lesion-volume histograms per site and split, one panel each, log-scaled volume axis.

    ``volumes`` is :func:`sclesion.evaluation.lesions.lesion_volumes`'s table (one row per lesion).

    The paper hid lesions above 400 mm^3 for display; the log axis here shows every lesion.
    """
    groups = in_study_order(volumes.assign(site=volumes["site"].fillna("n/a"))[["site", "split"]].drop_duplicates())
    low = np.log10(max(float(volumes["volume_mm3"].min()), 0.1)) if len(volumes) else 0.0
    high = np.log10(float(volumes["volume_mm3"].max())) if len(volumes) else 3.0
    edges = 10 ** np.arange(np.floor(low), np.ceil(high) + 1e-9, 1 / bins_per_decade)
    n = max(len(groups), 1)
    fig, axes = plt.subplots(n, 1, figsize=(6.5, 1.25 * n + 1.0), sharex=True, squeeze=False)
    for ax, group in zip(axes[:, 0], groups.itertuples(index=False)):
        values = volumes.loc[(volumes["site"].fillna("n/a") == group.site) & (volumes["split"] == group.split),
                             "volume_mm3"]
        ax.hist(values, bins=edges, color=SPLIT_COLOURS.get(group.split, "0.5"), edgecolor="white", linewidth=0.5)
        label = f"{group.site} {group.split} ({len(values)} lesion{'' if len(values) == 1 else 's'})"
        ax.text(0.99, 0.85, label, transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.set_ylabel("lesions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xscale("log")
    axes[-1, 0].set_xlabel("lesion volume (mm$^3$, log scale)")
    fig.suptitle("Lesion volumes per site and split (6-connected components of the manual masks)", fontsize=10)
    fig.tight_layout()
    return fig


@dataclass
class Case:
    """One case of :func:`qualitative_panel`.

    Attributes
    ----------
    image : numpy.ndarray
        3D image in RPI orientation (axis 0 right->left, 1 posterior->anterior, 2 inferior->superior).
    ref, pred : numpy.ndarray
        Reference and predicted masks on the image's grid (e.g. lesion masks).
    title : str
        Panel title, e.g. the subject and the model.
    spacing : tuple of float
        Voxel size in mm (RPI axis order); sets the aspect ratio and the field of view.
    slice_index : int, optional
        Axial slice (index along axis 2); by default the slice with the most reference voxels (prediction voxels
        if the reference is empty, the middle slice if both are).
    """

    image: np.ndarray
    ref: np.ndarray
    pred: np.ndarray
    title: str
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    slice_index: int | None = None


def qualitative_panel(cases: Sequence[Case], field_of_view_mm: float | None = 40.0) -> Figure:
    """Axial slices of chosen cases with the reference (green) and prediction (orange) contours.

    Slices are shown in radiological convention: the patient's right on the left, anterior at the top.

    Parameters
    ----------
    cases : sequence of Case
        One panel per case.
    field_of_view_mm : float or None, default 40
        Side of the square window shown, centred on the masks; None shows the whole slice.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not cases:
        raise InputError("no cases to show")
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure((2.6 * len(cases), 3.0))
        axes = fig.subplots(1, len(cases), squeeze=False)[0]
        for ax, case in zip(axes, cases):
            if not (case.image.shape == case.ref.shape == case.pred.shape) or case.image.ndim != 3:
                raise InputError(f"case {case.title!r}: image, reference and prediction must be 3D of one shape")
            k = most_informative_slice((case.ref, case.pred), case.image.shape[2]) if case.slice_index is None \
                else case.slice_index
            x_mm, y_mm = draw_axial_slice(ax, case.image, k, case.spacing,
                                          ((case.ref, REFERENCE_COLOR), (case.pred, PREDICTION_COLOR)))
            if field_of_view_mm:
                both = np.asarray(case.ref[:, :, k], dtype=float).T + np.asarray(case.pred[:, :, k], dtype=float).T
                _zoom(ax, both, x_mm, y_mm, field_of_view_mm)
            ax.set_title(f"{case.title}\naxial slice {k}")
        handles = [Line2D([], [], color=REFERENCE_COLOR, label="reference"),
                   Line2D([], [], color=PREDICTION_COLOR, label="prediction")]  # fmt: skip
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


# --- helpers ---------------------------------------------------------------------------------------------


def _new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot figure, closed at once: it displays as a cell result without pyplot showing it again.

    Never wider than the book's text column (:data:`sclesion.figures.slices.TEXT_WIDTH_IN`)."""
    fig = plt.figure(figsize=(min(size[0], TEXT_WIDTH_IN), size[1]))
    plt.close(fig)
    return fig


def _require(table: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"table has no column {', '.join(missing)}")


def _levels(values: pd.Series, order: Sequence | None) -> list:
    if order is not None:
        return list(order)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return list(dict.fromkeys(values.dropna()))


def _chunk_label(column: str, level) -> str:
    if column == "chunk" and level in CHUNK_NAMES:
        return f"chunk {level} ({CHUNK_NAMES[level]})"
    return f"{column} {level}"


def _one_cloud(ax, values: np.ndarray, center: float, slot: float, color, rng: np.random.Generator) -> None:
    """Half violin left of ``center``; box with mean marker and jittered points right of it."""
    if values.size > 1 and np.ptp(values) > 0:
        body = ax.violinplot([values], positions=[center], widths=0.9 * slot, showextrema=False)["bodies"][0]
        vertices = body.get_paths()[0].vertices
        vertices[:, 0] = np.minimum(vertices[:, 0], center)
        body.set_facecolor(color)
        body.set_edgecolor("none")
        body.set_alpha(0.6)
    box_at = center + 0.08 * slot
    ax.boxplot([values], positions=[box_at], widths=0.1 * slot, showmeans=True, showfliers=False,
               patch_artist=True, manage_ticks=False,
               boxprops={"facecolor": "white", "edgecolor": "black", "linewidth": 0.8},
               medianprops={"color": "black", "linewidth": 1.0},
               whiskerprops={"linewidth": 0.8}, capprops={"linewidth": 0.8},
               meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black",
                          "markersize": 4})  # fmt: skip
    jitter = center + 0.18 * slot + rng.uniform(0, 0.2 * slot, values.size)
    ax.scatter(jitter, values, s=6, color=color, alpha=0.7, linewidths=0, zorder=3)


def _brackets(ax, brackets: pd.DataFrame, centers: dict, alpha: float) -> None:
    """Draw one bracket per significant pair above the data, shortest pairs lowest."""
    _require(brackets, ["group1", "group2", "p"])
    unknown = sorted({*brackets["group1"], *brackets["group2"]} - set(centers))
    if unknown:
        raise InputError(f"bracket group {unknown[0]!r} is not a plotted group (groups: {', '.join(centers)})")
    shown = brackets[brackets["p"] < alpha].copy()
    if shown.empty:
        return
    shown["span"] = [abs(centers[a] - centers[b]) for a, b in zip(shown["group1"], shown["group2"])]
    shown = shown.sort_values("span", kind="stable")
    low, high = ax.get_ylim()
    step = 0.07 * (high - low)
    for level, row in enumerate(shown.itertuples(index=False)):
        x1, x2 = sorted((centers[row.group1], centers[row.group2]))
        y = high + step * level
        ax.plot([x1, x1, x2, x2], [y, y + step * 0.3, y + step * 0.3, y], color="black", linewidth=0.8)
        label = getattr(row, "stars", None) or stars(row.p)
        ax.text((x1 + x2) / 2, y + step * 0.3, label, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(low, high + step * (len(shown) + 0.5))
    ax.set_yticks([t for t in ax.get_yticks() if low <= t <= high])  # no value ticks beside the brackets
    ax.spines["left"].set_bounds(low, high)


def _zoom(ax, masks: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, side_mm: float) -> None:
    rows, cols = np.nonzero(masks)
    if rows.size == 0:
        return
    cx, cy = x_mm[cols].mean(), y_mm[rows].mean()
    ax.set_xlim(cx - side_mm / 2, cx + side_mm / 2)
    ax.set_ylim(cy - side_mm / 2, cy + side_mm / 2)
