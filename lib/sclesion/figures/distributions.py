"""The study's figures: raincloud plots, detection-rate bars, lesion-volume histograms and a qualitative panel.

Every function returns a :class:`matplotlib.figure.Figure` (closed in pyplot, so a notebook shows it once, as
the cell's result) with labelled axes and units; the plots also draw onto a given ``ax`` so that
:mod:`sclesion.figures.results` can compose them. Colours come from seaborn's colour-blind palette
(:func:`colours`), assigned in the order of the levels, so the same order gives the same colours everywhere.

- :func:`raincloud`: half violin + box (with a mean marker) + jittered points per group, groups along x
  (e.g. dataset variant) with a hue (e.g. 2D/3D), and significance brackets from
  :func:`sclesion.evaluation.stats.dunn_holm`, over all groups or per x group (paper Fig 5, Fig 6).
- :func:`detection_rate_bars`: detection rate per lesion-volume bin (optionally per chunk), with the number of
  lesions on each bar, 95% intervals when given and other sources' rates as markers (paper Fig 7, Fig 8).
- :func:`volume_histograms`: lesion volumes per chunk on a log axis, detected and missed lesions stacked,
  each panel with its own y scale (paper Fig 8).
- :func:`plot_lesion_volumes`: lesion volumes per site and split on a log axis (paper Fig 3).
- :func:`qualitative_panel`: axial slices with the reference and predicted contours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sclesion.core.errors import InputError
from sclesion.data.split import in_study_order
from sclesion.evaluation.detection import VOLUME_BIN_EDGES_MM3
from sclesion.evaluation.stats import GROUP_SEPARATOR, stars
from sclesion.figures.slices import TEXT_WIDTH_IN, draw_axial_slice, most_informative_slice, zoom_axial

#: Names of the chunks (1..3, cranio-caudal).
CHUNK_NAMES: dict[int, str] = {1: "cervical", 2: "thoracic", 3: "lumbar"}

_CB = sns.color_palette("colorblind")

#: Colour of each chunk (spinal level) wherever chunks are told apart by colour.
CHUNK_COLOURS: dict[int, tuple] = {1: _CB[2], 2: _CB[4], 3: _CB[5]}

#: Colours of detected and missed lesions.
DETECTED_COLOUR, MISSED_COLOUR = _CB[0], _CB[1]

#: Colour of each split in the cohort's figures.
SPLIT_COLOURS: dict[str, str] = {"train": "#3b75af", "test": "#d1603d"}

#: Contour colours of the qualitative panels (reference, prediction).
REFERENCE_COLOR, PREDICTION_COLOR = "#1b9e77", "#d95f02"

#: Marker shapes and fills of the rates reported by other sources (:func:`detection_rate_bars`).
REFERENCE_MARKERS: tuple[str, ...] = ("D", "s", "^", "v")
REFERENCE_GREYS: tuple[str, ...] = ("white", "0.55", "black")

STYLE = {
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
    order: Sequence | None = None,
    hue_order: Sequence | None = None,
    brackets: pd.DataFrame | None = None,
    alpha: float = 0.05,
    ylabel: str | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    seed: int = 0,
    ax: Axes | None = None,
    palette: Mapping | None = None,
    legend: bool = True,
) -> Figure:
    """Raincloud plot of ``value`` per ``x`` group, split by ``hue``, with significance brackets.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per observation (e.g. per test image and fold).
    value : str
        Column plotted on the y axis, e.g. ``"Dice"``.
    x : str
        Grouping along the x axis, e.g. ``"variant"``; ``"chunk"`` values 1-3 are labelled with the spinal level.
    hue : str, optional
        Second grouping shown side by side and in colour, e.g. ``"configuration"`` (2D / 3D).
    order, hue_order : sequence, optional
        Order of the groups; by default the order of first appearance (categories of a categorical column).
    brackets : pandas.DataFrame, optional
        Columns ``group1``, ``group2``, ``p`` (and optionally ``stars``), as :func:`sclesion.evaluation.stats.dunn_holm`
        returns. Either over all groups, called with ``by=[x, hue]``: group labels ``"<x> | <hue>"`` (just
        ``"<x>"`` without hue); or per x group (e.g. per chunk), with the ``x`` column and hue levels as group
        labels. Only pairs with ``p < alpha`` are drawn, stacked compactly: shortest first, each on the lowest
        level where it overlaps no other bracket.
    alpha : float, default 0.05
        Significance level for drawing a bracket.
    ylabel, xlabel, title : str, optional
        Axis labels (default: the column names) and title.
    seed : int, default 0
        Seed of the horizontal jitter of the points.
    ax : matplotlib Axes, optional
        Draw here (no layout change); by default on a new figure sized to the groups.
    palette : mapping, optional
        Colour per hue level; default :func:`colours` of ``hue_order``.
    legend : bool, default True
        Draw the hue legend right of the axes.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the figure of ``ax``.
    """
    require_columns(data, [value, x] + ([hue] if hue else []))
    order = _levels(data[x], order)
    hue_order = _levels(data[hue], hue_order) if hue else [None]
    colors = colours(hue_order, palette)
    rng = np.random.default_rng(seed)
    slot = 0.8 / len(hue_order)
    centers = {}
    with matplotlib.rc_context(STYLE):
        own = ax is None
        if own:
            fig = new_figure((1.0 + (0.9 + 0.45 * len(hue_order)) * len(order), 3.8))
            ax = fig.add_subplot()
        for i, group in enumerate(order):
            for j, level in enumerate(hue_order):
                center = i - 0.4 + (j + 0.5) * slot
                label = str(group) if hue is None else f"{group}{GROUP_SEPARATOR}{level}"
                centers[label] = center
                chosen = data[x] == group if hue is None else (data[x] == group) & (data[hue] == level)
                values = pd.to_numeric(data.loc[chosen, value]).dropna().to_numpy(dtype=float)
                if values.size:
                    _one_cloud(ax, values, center, slot, colors[level], rng)
        ax.set_xticks(range(len(order)), [_tick_label(x, g) for g in order])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or value)
        if title:
            ax.set_title(title)
        if hue and legend:
            ax.legend(handles=raincloud_handles(hue_order, colors), title=hue, frameon=False, loc="upper left",
                      bbox_to_anchor=(1.0, 1.0))  # fmt: skip
        if brackets is not None:
            if hue and x in brackets.columns:  # pairs of hue levels within each x group
                prefix = brackets[x].astype(str) + GROUP_SEPARATOR
                brackets = brackets.assign(group1=prefix + brackets["group1"].astype(str),
                                           group2=prefix + brackets["group2"].astype(str))  # fmt: skip
            _brackets(ax, brackets, centers, alpha)
        if own:
            fig.tight_layout()
    return ax.figure


def raincloud_handles(hue_order: Sequence, colors: Mapping) -> list:
    """Legend handles of :func:`raincloud`: one patch per hue level, then the mean marker."""
    handles = [Patch(facecolor=colors[level], alpha=0.7, label=str(level)) for level in hue_order]
    handles.append(Line2D([], [], marker="D", color="none", markerfacecolor="white", markeredgecolor="black",
                          label="mean"))  # fmt: skip
    return handles


def detection_rate_bars(
    rates: pd.DataFrame,
    x: str = "volume_bin",
    hue: str | None = None,
    xlabel: str = "Lesion volume (mm³)",
    title: str | None = None,
    references: pd.DataFrame | None = None,
    label: str = "this book",
    ax: Axes | None = None,
    palette: Mapping | None = None,
    legend: str | None = "right",
) -> Figure:
    """Bars of the detection rate (%) per ``x`` group, optionally per ``hue`` group, with ``n`` above each bar.

    Parameters
    ----------
    rates : pandas.DataFrame
        Output of :func:`sclesion.evaluation.detection.detection_rates`: columns ``x`` (and ``hue``), ``n_lesions``,
        ``rate`` (fraction in [0, 1]); with ``low`` and ``high`` (fractions, e.g. a 95% Wilson interval) each
        bar gets an error bar.
    x : str, default "volume_bin"
        Column along the x axis.
    hue : str, optional
        Column shown side by side, e.g. ``"chunk"``.
    xlabel, title : str
        Axis label and optional title.
    references : pandas.DataFrame, optional
        Rates reported elsewhere, drawn as markers beside the bars (one marker shape per source): columns ``x``,
        ``rate`` (fraction in [0, 1]) and ``source`` (the legend label, e.g. "paper, text (approx.)").
    label : str, default "this book"
        Legend label of the bars when there is no hue (shown only with ``references``).
    ax : matplotlib Axes, optional
        Draw here (no layout change); by default on a new figure.
    palette : mapping, optional
        Colour per hue level; default :data:`CHUNK_COLOURS` for chunks, else :func:`colours`.
    legend : {"right", "below", None}, default "right"
        Where the legend goes (bars first, then the other sources), when there is a hue or ``references``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(rates, [x, "n_lesions", "rate"] + ([hue] if hue else []))
    if references is not None:
        require_columns(references, [x, "rate", "source"])
    intervals = {"low", "high"} <= set(rates.columns)
    groups = _levels(rates[x], None)
    levels = _levels(rates[hue], None) if hue else [None]
    sources = _levels(references["source"], None) if references is not None else []
    if palette is None and hue == "chunk" and set(levels) <= set(CHUNK_COLOURS):
        palette = CHUNK_COLOURS
    colors = colours(levels, palette)
    width = 0.8 / (len(levels) + len(sources))
    handles = []
    with matplotlib.rc_context(STYLE):
        own = ax is None
        if own:
            fig = new_figure((max(3.6, 0.45 * len(groups) * (len(levels) + len(sources)) + 2.2), 3.2))
            ax = fig.add_subplot()
        for j, level in enumerate(levels):
            part = rates if hue is None else rates[rates[hue] == level]
            part = part.set_index(x).reindex(groups)
            positions = np.arange(len(groups)) - 0.4 + (j + 0.5) * width
            heights = 100.0 * part["rate"].fillna(0.0).to_numpy(dtype=float)
            name = label if hue is None else _chunk_label(hue, level)
            handles.append(ax.bar(positions, heights, width * 0.9, color=colors[level], label=name))
            tops = heights.copy()
            if intervals:
                low = 100.0 * part["low"].to_numpy(dtype=float)
                high = 100.0 * part["high"].to_numpy(dtype=float)
                ok = np.isfinite(low) & np.isfinite(high) & part["rate"].notna().to_numpy()
                if np.any((low[ok] > heights[ok] + 1e-9) | (high[ok] < heights[ok] - 1e-9)):
                    raise InputError("detection rates: an interval (low, high) does not contain its rate")
                ax.errorbar(positions[ok], heights[ok], yerr=[heights[ok] - low[ok], high[ok] - heights[ok]],
                            fmt="none", ecolor="black", elinewidth=0.8, capsize=2)  # fmt: skip
                tops[ok] = np.maximum(tops[ok], high[ok])
            for position, top, n in zip(positions, tops, part["n_lesions"].fillna(0).astype(int)):
                ax.annotate(f"n={n}", (position, top), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=8)  # fmt: skip
        for s, source in enumerate(sources):
            part = references[references["source"] == source].set_index(x).reindex(groups)
            positions = np.arange(len(groups)) - 0.4 + (len(levels) + s + 0.5) * width
            handles.append(ax.scatter(positions, 100.0 * part["rate"].to_numpy(dtype=float), s=30, zorder=4,
                                      label=str(source),
                                      marker=REFERENCE_MARKERS[s % len(REFERENCE_MARKERS)],
                                      color=REFERENCE_GREYS[s % len(REFERENCE_GREYS)], edgecolors="black",
                                      linewidths=0.6))  # fmt: skip
        ax.set_xticks(range(len(groups)), [_tick_label(x, g) for g in groups])
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(0, 115)
        ax.set_yticks(range(0, 101, 20))
        ax.set_ylabel("Detection rate (%)")
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title)
        if (hue or sources) and legend == "right":
            ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        elif (hue or sources) and legend == "below":
            ax.legend(handles=handles, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        if own:
            fig.tight_layout()
    return ax.figure


def volume_histograms(lesions: pd.DataFrame, by: str = "chunk", n_bins: int = 20,
                      axes: Sequence[Axes] | None = None) -> Figure:  # fmt: skip
    """Histograms of lesion volume (mm³, log axis), one panel per ``by`` group, detected and missed stacked.

    Every panel has its own y scale (integer counts), as in the paper's Fig 8; the bins are log-spaced over the
    volume range of all lesions, the same in every panel, and dotted lines mark the edges of the volume bins of
    :data:`sclesion.evaluation.detection.VOLUME_BIN_EDGES_MM3`.

    Parameters
    ----------
    lesions : pandas.DataFrame
        One row per reference lesion with ``volume_mm3`` and ``detected`` (see
        :func:`sclesion.evaluation.detection.detect_lesions`) and the ``by`` column.
    by : str, default "chunk"
        One panel per value.
    n_bins : int, default 20
        Number of logarithmically spaced bins over the volume range.
    axes : sequence of matplotlib Axes, optional
        One per ``by`` value, to draw on (no layout change; the legend goes right of the last); by default a
        new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(lesions, ["volume_mm3", "detected", by])
    if lesions.empty:
        raise InputError("no lesions to plot")
    panels = sorted(lesions[by].dropna().unique())
    volumes = lesions["volume_mm3"].to_numpy(dtype=float)
    edges = np.geomspace(max(volumes.min(), 1e-3), max(volumes.max(), volumes.min() * 1.01), n_bins + 1)
    with matplotlib.rc_context(STYLE):
        own = axes is None
        if own:
            fig = new_figure((3.0 * len(panels), 3.0))
            axes = fig.subplots(1, len(panels), squeeze=False)[0]
        if len(axes) != len(panels):
            raise InputError(f"{len(panels)} {by} values need {len(panels)} axes, got {len(axes)}")
        for ax, level in zip(axes, panels):
            part = lesions[lesions[by] == level]
            found = part["detected"].astype(bool)
            ax.hist([part.loc[found, "volume_mm3"], part.loc[~found, "volume_mm3"]], bins=edges, stacked=True,
                    color=[DETECTED_COLOUR, MISSED_COLOUR], label=["detected", "missed"])  # fmt: skip
            ax.set_xscale("log")
            for edge in VOLUME_BIN_EDGES_MM3[1:-1]:
                ax.axvline(edge, color="0.5", linewidth=0.7, linestyle=":", zorder=0)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Lesion volume (mm³)")
            rate = 100.0 * found.mean() if len(part) else float("nan")
            ax.set_title(f"{_chunk_label(by, level)}\nn={len(part)}, {rate:.0f}% detected")
        axes[0].set_ylabel("Number of lesions")
        if own:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
            fig.tight_layout(rect=(0, 0.07, 1, 1))
        else:
            axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return axes[0].figure


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
    with matplotlib.rc_context(STYLE):
        fig = new_figure((2.6 * len(cases), 3.0))
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
                zoom_axial(ax, both, x_mm, y_mm, field_of_view_mm)
            ax.set_title(f"{case.title}\naxial slice {k}")
        handles = [Line2D([], [], color=REFERENCE_COLOR, label="reference"),
                   Line2D([], [], color=PREDICTION_COLOR, label="prediction")]  # fmt: skip
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


# --- helpers ---------------------------------------------------------------------------------------------


def colours(levels: Sequence, palette: Mapping | None = None) -> dict:
    """Colour of each level: ``palette``'s where given, else seaborn's colour-blind palette in level order."""
    default = dict(zip(levels, sns.color_palette("colorblind", max(len(levels), 1))))
    if palette is None:
        return default
    missing = [str(level) for level in levels if level not in palette]
    if missing:
        raise InputError(f"palette has no colour for {', '.join(missing)}")
    return {level: palette[level] for level in levels}


def new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot figure, closed at once: it displays as a cell result without pyplot showing it again.

    Never wider than the book's text column (:data:`sclesion.figures.slices.TEXT_WIDTH_IN`)."""
    fig = plt.figure(figsize=(min(size[0], TEXT_WIDTH_IN), size[1]))
    plt.close(fig)
    return fig


def require_columns(table: pd.DataFrame, columns: list[str]) -> None:
    """Raise :class:`~sclesion.core.errors.InputError` naming the columns ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"table has no column {', '.join(missing)}")


def _levels(values: pd.Series, order: Sequence | None) -> list:
    if order is not None:
        return list(order)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return list(dict.fromkeys(values.dropna()))


def _tick_label(column: str, level) -> str:
    if column == "chunk" and level in CHUNK_NAMES:
        return f"{level} ({CHUNK_NAMES[level]})"
    return str(level)


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
    """Draw one bracket per significant pair above the data: shortest pairs first, each on the lowest level
    where it overlaps no bracket already drawn (brackets of different x groups share levels)."""
    require_columns(brackets, ["group1", "group2", "p"])
    unknown = sorted({*brackets["group1"], *brackets["group2"]} - set(centers))
    if unknown:
        raise InputError(f"bracket group {unknown[0]!r} is not a plotted group (groups: {', '.join(centers)})")
    shown = brackets[brackets["p"] < alpha].copy()
    if shown.empty:
        return
    shown["x1"] = [min(centers[a], centers[b]) for a, b in zip(shown["group1"], shown["group2"])]
    shown["x2"] = [max(centers[a], centers[b]) for a, b in zip(shown["group1"], shown["group2"])]
    shown = shown.assign(span=shown["x2"] - shown["x1"]).sort_values(["span", "x1"], kind="stable")
    low, high = ax.get_ylim()
    step = 0.08 * (high - low)
    taken: list[list[tuple[float, float]]] = []  # per level, the x spans drawn there
    for row in shown.itertuples(index=False):
        level = next((i for i, spans in enumerate(taken)
                      if all(row.x1 > b + 0.02 or row.x2 < a - 0.02 for a, b in spans)), len(taken))  # fmt: skip
        if level == len(taken):
            taken.append([])
        taken[level].append((row.x1, row.x2))
        y = high + step * level
        ax.plot([row.x1, row.x1, row.x2, row.x2], [y, y + step * 0.3, y + step * 0.3, y], color="black",
                linewidth=0.8)  # fmt: skip
        label = getattr(row, "stars", None) or stars(row.p)
        ax.annotate(label, ((row.x1 + row.x2) / 2, y + step * 0.3), xytext=(0, -2.5), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.set_ylim(low, high + step * (len(taken) + 0.5))
    ax.set_yticks([t for t in ax.get_yticks() if low <= t <= high])  # no value ticks beside the brackets
    ax.spines["left"].set_bounds(low, high)