"""The reference and each model's prediction side by side, per test site, missed lesions marked (paper Fig 9).

One row per site (e.g. TUM, BWH, UCSF); one column for the reference, then one per model. Each cell holds an
axial slice (:func:`sclesion.figures.slices.draw_axial_slice`, the same slice in every column of the row) and
the sagittal plane through the cord with the lesion maximum-intensity projection
(:func:`sclesion.figures.slices.draw_sagittal_mip`). The reference is green, predictions orange (filled in the
MIP, the reference outlined over them), the cord cyan. A yellow arrow points at every reference lesion a model
misses: in the MIP always, in the axial slice when the lesion crosses it.

A reference lesion is missed when at most 10% of its voxels are covered by the prediction (ANIMA's alpha, the
first condition of :func:`sclesion.evaluation.detection.detect_lesions`, whose ``coverage`` it reads; components
under 3 mm^3 are ignored), i.e. when the eye sees it unsegmented. The full rule also voids detections by
predictions that lie mostly outside every lesion; pass ``detect_lesions``'s ``~detected`` as the flags to mark
those too.

- :class:`SitePrediction`: one site's image, masks and predictions.
- :func:`site_predictions`: the figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sclesion.core.errors import InputError
from sclesion.evaluation.detection import MIN_COVERAGE, detect_lesions, scored_lesions
from sclesion.figures.distributions import PREDICTION_COLOR, REFERENCE_COLOR, STYLE, new_figure
from sclesion.figures.slices import (
    CORD_COLOUR, TEXT_WIDTH_IN, draw_axial_slice, draw_sagittal_mip, most_informative_slice, white_level,
    zoom_axial,
)  # fmt: skip

#: Colour of the arrows at missed reference lesions (the paper's yellow arrows; Okabe-Ito yellow).
MISSED_ARROW_COLOUR = "#F0E442"

#: Height / width of a sagittal panel.
SAGITTAL_ASPECT = 2.4

#: Background of the labels written on the images.
_LABEL_BOX = {"facecolor": "black", "alpha": 0.6, "edgecolor": "none", "pad": 1.0}

#: Scale-bar lengths to choose from (mm).
_BAR_LENGTHS_MM = (5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass
class SitePrediction:
    """One row of :func:`site_predictions`.

    Attributes
    ----------
    site : str
        Row label, e.g. ``"TUM"``.
    image : numpy.ndarray
        3D image in RPI (axis 0 right->left, 1 posterior->anterior, 2 inferior->superior).
    spacing : tuple of float
        Voxel size in mm along the RPI axes.
    reference : numpy.ndarray
        Reference lesion mask on the image's grid (nonzero = lesion).
    predictions : mapping of str to numpy.ndarray
        Model name -> predicted lesion mask on the image's grid, in column order (a stand-in keeps its name).
    cord : numpy.ndarray, optional
        Cord mask: outlined in the axial slices and sets the sagittal plane (else the middle R-L slice).
    missed : mapping of str to sequence of bool, optional
        Model name -> one flag per reference lesion of :func:`sclesion.evaluation.detection.scored_lesions` (True = missed), e.g.
        ``~detect_lesions(...)["detected"]``; models not in it: at most 10% covered (module docstring).
    slice_index : int, optional
        Axial slice (RPI axis 2); default the one with the most reference lesion voxels.
    """

    site: str
    image: np.ndarray
    spacing: tuple[float, float, float]
    reference: np.ndarray
    predictions: Mapping[str, np.ndarray]
    cord: np.ndarray | None = None
    missed: Mapping[str, Sequence[bool]] = field(default_factory=dict)
    slice_index: int | None = None


def site_predictions(
    sites: Sequence[SitePrediction],
    field_of_view_mm: float = 40.0,
    margin_mm: float = 10.0,
    max_stretch: float = 3.0,
) -> Figure:
    """Per site, the reference and each model's lesions in an axial slice and a sagittal MIP; misses marked.

    Parameters
    ----------
    sites : sequence of SitePrediction
        One row each; every site must have the same models, in the same order.
    field_of_view_mm : float, default 40
        Side of the axial window (mm), centred on the reference and predicted lesions of the slice (the cord
        if none), and the narrowest A-P window of the sagittal view.
    margin_mm : float, default 10
        S-I margin (mm) of the sagittal window around every reference and predicted lesion.
    max_stretch : float, default 3
        A sagittal panel is :data:`SAGITTAL_ASPECT` times higher than wide, equal mm on both axes, unless its
        A-P window would then exceed twice ``field_of_view_mm`` (a whole spine): then A-P is stretched, up to
        this factor (written in the reference column's panel, e.g. "A-P ×2.0"), to keep the cord visible.

    Returns
    -------
    matplotlib.figure.Figure
        Axes in row-major order, two per cell (axial, sagittal). Arrows at missed lesions have the gid
        ``"missed"``.
    """
    if not sites:
        raise InputError("no site to show")
    models = list(sites[0].predictions)
    for site in sites:
        _check(site, models)
    columns = ["reference", *models]
    with matplotlib.rc_context(STYLE):
        fig = new_figure((TEXT_WIDTH_IN, 0.75 + 1.85 * len(sites)))
        titles = []
        grid = fig.add_gridspec(len(sites), 2 * len(columns), width_ratios=[1.0, 0.62] * len(columns),
                                wspace=0.08, hspace=0.12)  # fmt: skip
        for row, site in enumerate(sites):
            labels, kept = scored_lesions(site.reference, site.spacing)
            k = most_informative_slice((site.reference, site.cord), site.image.shape[2]) \
                if site.slice_index is None else int(site.slice_index)  # fmt: skip
            i_plane = _sagittal_plane(site)
            window = _sagittal_window(site, field_of_view_mm, margin_mm, max_stretch)
            for col, name in enumerate(columns):
                axial = fig.add_subplot(grid[row, 2 * col])
                sagittal = fig.add_subplot(grid[row, 2 * col + 1])
                prediction = None if name == "reference" else np.asarray(site.predictions[name]) > 0
                missed = None if prediction is None else _missed(site, name, prediction, kept)
                _draw_axial(axial, site, k, prediction, labels, kept, missed, field_of_view_mm)
                _draw_sagittal(sagittal, site, i_plane, k, window, prediction, labels, kept, missed)
                if row == 0:
                    titles.append((axial, sagittal, name))
                if col == 0:
                    axial.set_ylabel(f"{site.site}\nslice {k}", fontsize=9)
                    _scale_bar(axial, horizontal=True)
                    _scale_bar(sagittal, horizontal=False)
                    if window[4] > 1.05:
                        sagittal.text(0.05, 0.97, f"A-P ×{window[4]:.1f}", transform=sagittal.transAxes,
                                      color="white", fontsize=8, ha="left", va="top", bbox=_LABEL_BOX)  # fmt: skip
        handles = [Line2D([], [], color=REFERENCE_COLOR, label="reference lesion"),
                   Line2D([], [], color=PREDICTION_COLOR, linewidth=4, label="predicted lesion"),
                   Line2D([], [], marker="<", color="none", markerfacecolor=MISSED_ARROW_COLOUR,
                          markeredgecolor="black", markersize=8, label="missed reference lesion")]  # fmt: skip
        if any(site.cord is not None for site in sites):
            handles.append(Line2D([], [], color=CORD_COLOUR, label="cord"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
        height = fig.get_size_inches()[1]
        fig.subplots_adjust(left=0.07, right=0.995, top=1 - 0.4 / height, bottom=0.35 / height)
        for axial, sagittal, name in titles:  # one title over each (axial, sagittal) cell
            box_axial = axial.get_position()
            top = max(box_axial.y1, _drawn_top(sagittal))
            title = textwrap.fill(name, 28, break_on_hyphens=False)  # a stand-in keeps "stand-in" whole
            fig.text(box_axial.x0, top + 0.04 / height, title, fontsize=9, ha="left", va="bottom")
    return fig


# --- helpers ---------------------------------------------------------------------------------------------


def _check(site: SitePrediction, models: list[str]) -> None:
    shape = np.shape(site.image)
    if len(shape) != 3:
        raise InputError(f"site {site.site}: the image must be 3D (RPI), got shape {shape}")
    if list(site.predictions) != models:
        raise InputError(f"site {site.site}: models {list(site.predictions)} differ from the first site's {models}")
    masks = {"reference": site.reference, "cord": site.cord, **site.predictions}
    for name, mask in masks.items():
        if mask is not None and np.shape(mask) != shape:
            raise InputError(f"site {site.site}: {name} mask shape {np.shape(mask)} differs from the image's {shape}")
    if len(site.spacing) != 3 or min(site.spacing) <= 0:
        raise InputError(f"site {site.site}: spacing must be three positive voxel sizes (mm), got {site.spacing}")
    unknown = sorted(set(site.missed) - set(models))
    if unknown:
        raise InputError(f"site {site.site}: missed flags for unknown model {unknown[0]!r}")


def _missed(site: SitePrediction, name: str, prediction: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """One flag per scored reference lesion: True where the model misses it."""
    if name in site.missed:
        flags = np.asarray(site.missed[name], dtype=bool)
        if flags.shape != kept.shape:
            raise InputError(f"site {site.site}, model {name!r}: {flags.size} missed flags for {kept.size} "
                             "reference lesions")  # fmt: skip
        return flags
    lesions = detect_lesions(prediction, site.reference, site.spacing)
    return lesions["coverage"].to_numpy(dtype=float) <= MIN_COVERAGE


def _sagittal_plane(site: SitePrediction) -> int:
    """RPI axis-0 index of the sagittal plane: through the cord's centre of mass, else the middle."""
    if site.cord is not None and np.any(site.cord):
        return int(round(float(np.nonzero(site.cord)[0].mean())))
    return (site.image.shape[0] - 1) // 2


def _sagittal_window(site: SitePrediction, fov_mm: float, margin_mm: float,
                     max_stretch: float) -> tuple[float, float, float, float, float]:  # fmt: skip
    """(ap_low, ap_high, si_low, si_high, stretch): mm, every lesion with a margin, A-P centred on the cord;
    stretch = how much wider A-P is drawn than S-I (1 = equal mm)."""
    vy, vz = float(site.spacing[1]), float(site.spacing[2])
    union = np.asarray(site.reference) > 0
    for mask in site.predictions.values():
        union = union | (np.asarray(mask) > 0)
    centre_source = site.cord if site.cord is not None and np.any(site.cord) else union
    if np.any(centre_source):
        ap_centre = float(np.nonzero(centre_source)[1].mean()) * vy
    else:
        ap_centre = (site.image.shape[1] - 1) * vy / 2
    if np.any(union):
        k = np.nonzero(union)[2]
        si_low, si_high = k.min() * vz - margin_mm, k.max() * vz + margin_mm
    else:
        si_low = si_high = (site.image.shape[2] - 1) * vz / 2
    height = max(si_high - si_low, SAGITTAL_ASPECT * fov_mm)
    si_centre = (si_low + si_high) / 2
    natural = height / SAGITTAL_ASPECT  # the A-P width at equal mm on both axes
    width = natural if natural <= 2 * fov_mm else max(2 * fov_mm, natural / max_stretch)
    stretch = natural / width
    return (ap_centre - width / 2, ap_centre + width / 2, si_centre - height / 2, si_centre + height / 2,
            stretch)  # fmt: skip


def _draw_axial(ax: Axes, site: SitePrediction, k: int, prediction, labels, kept, missed, fov_mm: float) -> None:
    reference = np.asarray(site.reference) > 0
    contours = [(site.cord, CORD_COLOUR), (reference, REFERENCE_COLOR)]
    if prediction is not None:
        contours.append((prediction, PREDICTION_COLOR))
    x_mm, y_mm = draw_axial_slice(ax, site.image, k, site.spacing, contours)
    ax.set_facecolor("black")  # outside the image, when the window reaches past it
    shown = reference[:, :, k] | (prediction[:, :, k] if prediction is not None else False)
    if not shown.any() and site.cord is not None:
        shown = np.asarray(site.cord[:, :, k]) > 0
    zoom_axial(ax, shown.T, x_mm, y_mm, fov_mm)
    if missed is not None:
        plane = labels[:, :, k]
        for label in kept[missed]:
            i, j = np.nonzero(plane == label)
            if i.size:
                _arrow(ax, i.mean() * site.spacing[0], j.mean() * site.spacing[1])
    _bare(ax)


def _draw_sagittal(ax: Axes, site: SitePrediction, i_plane: int, k: int, window, prediction, labels, kept,
                   missed) -> None:  # fmt: skip
    vy, vz = float(site.spacing[1]), float(site.spacing[2])
    ny, nz = site.image.shape[1:]
    extent = (-0.5 * vy, (ny - 0.5) * vy, -0.5 * vz, (nz - 0.5) * vz)
    reference_mip = (np.asarray(site.reference) > 0).max(axis=0)
    data = np.asarray(site.image, dtype=float)
    if prediction is None:
        draw_sagittal_mip(ax, data[i_plane], reference_mip, extent, white_level(data), colour=REFERENCE_COLOR)
    else:
        draw_sagittal_mip(ax, data[i_plane], prediction.max(axis=0), extent, white_level(data),
                          colour=PREDICTION_COLOR, outlines=[(reference_mip, REFERENCE_COLOR)])  # fmt: skip
    ax.axhline(k * vz, color="white", linewidth=0.6, linestyle=":")  # the axial slice shown beside
    ap_low, ap_high, si_low, si_high, _ = window
    ax.set_xlim(ap_high, ap_low)  # anterior on the left
    ax.set_ylim(si_low, si_high)
    ax.set_aspect("auto")  # A-P stretched as the window says
    ax.set_box_aspect(SAGITTAL_ASPECT)
    if missed is not None:
        for label in kept[missed]:
            _, j, kk = np.nonzero(labels == label)
            _arrow(ax, j.mean() * vy, kk.mean() * vz)
    _bare(ax)


def _arrow(ax: Axes, x: float, y: float) -> None:
    """A yellow arrow pointing at (x, y) from the viewer's right."""
    ax.annotate("", xy=(x, y), xytext=(14, 0), textcoords="offset points", gid="missed",
                arrowprops={"arrowstyle": "-|>", "color": MISSED_ARROW_COLOUR, "linewidth": 1.6,
                            "shrinkA": 0, "shrinkB": 2})  # fmt: skip


def _scale_bar(ax: Axes, horizontal: bool) -> None:
    """A white, labelled bar of about a fifth of the window (5, 10, 20, 50 or 100 mm) in the lower left
    corner: along x (R-L, axial) or along y (S-I, sagittal: never stretched)."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    span = abs(x1 - x0) if horizontal else abs(y1 - y0)
    length = max([b for b in _BAR_LENGTHS_MM if b <= span / 4] or [_BAR_LENGTHS_MM[0]])
    x = x0 + 0.1 * (x1 - x0)
    y = y0 + 0.06 * (y1 - y0)
    if horizontal:
        ax.plot([x, x + np.sign(x1 - x0) * length], [y, y], color="white", linewidth=2, solid_capstyle="butt")
        ax.text(x, y + 0.03 * (y1 - y0), f"{length:g} mm", color="white", fontsize=8, ha="left", va="bottom",
                bbox=_LABEL_BOX)  # fmt: skip
    else:
        ax.plot([x, x], [y, y + length], color="white", linewidth=2, solid_capstyle="butt")
        ax.text(x + 0.08 * (x1 - x0), y, f"{length:g} mm", color="white", fontsize=8, ha="left", va="bottom",
                rotation=90, bbox=_LABEL_BOX)  # fmt: skip


def _drawn_top(ax: Axes) -> float:
    """Top of the axes as drawn (figure fraction), after a fixed box aspect shrinks it."""
    return ax.get_position(original=False).y1 if ax.get_box_aspect() is None else \
        ax.get_window_extent().transformed(ax.figure.transFigure.inverted()).y1  # fmt: skip


def _bare(ax: Axes) -> None:
    """No ticks (the scale bar gives the size)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
