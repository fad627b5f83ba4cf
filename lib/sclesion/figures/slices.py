"""Slice views of whole-spine images: the one axial-slice renderer, the one sagittal MIP renderer, the one
"most informative slice" picker, and the panels built on them.

Every array here is in RPI (nibabel axis codes L, A, S: axis 0 right->left, 1 posterior->anterior, 2
inferior->superior); images in other orientations are reoriented first. Axes are in mm.

- :func:`most_informative_slice`: the axial slice to show (most lesion, else most cord, else the middle).
- :func:`draw_axial_slice`: an axial slice in grey with mask contours, radiological view (the patient's right
  on the viewer's left, anterior up). Used by :func:`axial_lesion_panel` (nibabel images), :func:`plot_axial`
  (a dataset row), the slice browser (:mod:`sclesion.figures.widgets`), the qualitative panel
  (:func:`sclesion.figures.distributions.qualitative_panel`) and the site panel
  (:func:`sclesion.figures.predictions.site_predictions`); :func:`zoom_axial` centres it on the masks.
- :func:`draw_sagittal_mip`: a sagittal plane in grey with the lesion maximum-intensity projection (MIP) filled
  in red (or another colour, with other MIPs outlined), anterior on the left, superior up. Used by
  :func:`sagittal_mip_panel` (an image's own voxel plane, several images sharing one ``Axes`` at their world
  positions, optionally pulled apart along S-I), :func:`draw_sagittal` (a :class:`SagittalView`: several
  volumes resampled onto one world plane) and :func:`sclesion.figures.predictions.site_predictions`.
- :func:`white_level`: the grey level shown white.
- :func:`ramp_weights_plot`: the ramp weights of a stitch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sclesion.core.errors import InputError
from sclesion.core.nifti import affines_match, load_image, load_mask, to_rpi, voxel_sizes, voxel_sizes_rpi

#: Colour of lesions (MIP and contours) and of the cord contour.
LESION_COLOUR = "red"
CORD_COLOUR = "cyan"

#: Width (inches) of the book's text column: no figure is wider.
TEXT_WIDTH_IN = 7.5

#: How far apart (mm, along S-I) the chunks of a session are drawn so that their overlaps stay visible.
PULL_APART_MM = 25.0

_WORLD_AXES = ("x, R-L", "y, A-P", "z, S-I")


# --- the picker and the two renderers ---------------------------------------------------------------------


def most_informative_slice(masks: Sequence[np.ndarray | None], n_slices: int) -> int:
    """Axial index (RPI axis 2) with the most voxels of the first non-empty mask, else the middle slice.

    Parameters
    ----------
    masks : sequence of numpy.ndarray or None
        3D masks in order of preference, e.g. ``(lesion, cord)`` or ``(reference, prediction)``; nonzero =
        inside; None entries are skipped.
    n_slices : int
        Number of axial slices (for the fallback, ``n_slices // 2``).
    """
    for mask in masks:
        if mask is not None and np.any(mask):
            return int(np.argmax(np.count_nonzero(np.asarray(mask), axis=(0, 1))))
    return n_slices // 2


def draw_axial_slice(
    ax: Axes,
    image: np.ndarray,
    k: int,
    spacing_mm: Sequence[float],
    contours: Sequence[tuple[np.ndarray | None, str]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Draw axial slice ``k`` of an RPI image in grey with the outline of each mask (radiological view).

    Parameters
    ----------
    ax : matplotlib Axes
    image : numpy.ndarray
        3D image in RPI.
    k : int
        Axial index (RPI axis 2).
    spacing_mm : sequence of float
        Voxel size (mm) along RPI axes 0 and 1 (a third value is ignored).
    contours : sequence of (mask, colour)
        3D masks on the image's grid, outlined at 0.5 in the given colour (None or empty/full slices skipped).

    Returns
    -------
    (x_mm, y_mm) : numpy.ndarray
        Voxel-centre positions (mm) along the slice's x (R->L) and y (P->A) axes, e.g. to zoom.
    """
    vx, vy = float(spacing_mm[0]), float(spacing_mm[1])
    nx, ny = image.shape[:2]
    ax.imshow(np.asarray(image[:, :, k], dtype=float).T, cmap="gray", origin="lower", interpolation="nearest",
              extent=(-0.5 * vx, (nx - 0.5) * vx, -0.5 * vy, (ny - 0.5) * vy))
    x_mm, y_mm = np.arange(nx) * vx, np.arange(ny) * vy
    for mask, colour in contours:
        if mask is None:
            continue
        plane = np.asarray(mask[:, :, k], dtype=float).T
        if plane.any() and not plane.all():
            ax.contour(x_mm, y_mm, plane, levels=[0.5], colors=[colour], linewidths=1.2)
    ax.set_aspect("equal")
    ax.set_xlabel("R → L (mm)")
    ax.set_ylabel("P → A (mm)")
    return x_mm, y_mm


def zoom_axial(ax: Axes, masks: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, side_mm: float) -> None:
    """Show a ``side_mm`` square of an axial panel centred on the nonzero pixels of ``masks`` (no change if none).

    ``masks`` is a 2D plane as drawn (rows along y = P->A, columns along x = R->L); ``x_mm``, ``y_mm`` are the
    pixel positions :func:`draw_axial_slice` returns.
    """
    rows, cols = np.nonzero(masks)
    if rows.size == 0:
        return
    cx, cy = x_mm[cols].mean(), y_mm[rows].mean()
    ax.set_xlim(cx - side_mm / 2, cx + side_mm / 2)
    ax.set_ylim(cy - side_mm / 2, cy + side_mm / 2)


def draw_sagittal_mip(
    ax: Axes,
    plane: np.ndarray,
    lesion_mip: np.ndarray | None,
    extent: tuple[float, float, float, float],
    vmax: float,
    colour: str = LESION_COLOUR,
    outlines: Sequence[tuple[np.ndarray | None, str]] = (),
) -> None:
    """Draw a sagittal plane in grey and a lesion MIP filled in colour; anterior on the left, superior up (mm).

    Parameters
    ----------
    ax : matplotlib Axes
        Several planes may share it (each at its own extent); the A-P axis stays inverted.
    plane : numpy.ndarray
        Shape ``(n_ap, n_si)``: intensities along P->A (rows) and I->S (columns); NaN = no data (black).
    lesion_mip : numpy.ndarray or None
        Shape ``(n_ap, n_si)``, nonzero where a lesion lies somewhere along R-L.
    extent : (ap_low, ap_high, si_low, si_high)
        World A-P and S-I span of the plane (mm, outer edges).
    vmax : float
        Grey level shown white.
    colour : str, default :data:`LESION_COLOUR`
        Fill colour of ``lesion_mip``.
    outlines : sequence of (mip, colour)
        Further MIPs of the plane's shape (e.g. the reference beside a prediction), outlined in their colour.
    """
    ax.imshow(np.ma.masked_invalid(np.asarray(plane, dtype=float).T), cmap="gray", origin="lower", extent=extent,
              vmin=0.0, vmax=vmax, interpolation="nearest")
    if lesion_mip is not None and np.any(lesion_mip):
        mip = np.asarray(lesion_mip).T > 0
        ax.imshow(np.ma.masked_where(~mip, mip), cmap=ListedColormap([colour]), origin="lower", extent=extent,
                  vmin=0, vmax=1, interpolation="nearest")
    n_ap, n_si = np.shape(plane)
    half_ap, half_si = (extent[1] - extent[0]) / (2 * n_ap), (extent[3] - extent[2]) / (2 * n_si)
    ap = np.linspace(extent[0] + half_ap, extent[1] - half_ap, n_ap)
    si = np.linspace(extent[2] + half_si, extent[3] - half_si, n_si)
    for outline, outline_colour in outlines:
        if outline is not None and np.any(outline) and not np.all(outline):
            ax.contour(ap, si, (np.asarray(outline).T > 0).astype(float), levels=[0.5], colors=[outline_colour],
                       linewidths=0.9)  # fmt: skip
    low, high = sorted(ax.get_xlim())
    ax.set_xlim(high, low)  # anterior on the left (idempotent when several planes share the axes)
    ax.set_aspect("equal")
    ax.set_facecolor("black")
    ax.set_xlabel("A-P position (mm)")
    ax.set_ylabel("S-I position (mm)")


def cord_plane_mm(cord_mask: nib.Nifti1Image) -> float:
    """World x (mm) of the centre of mass of a cord mask's voxels: the sagittal plane through the cord."""
    voxels = np.argwhere(np.asarray(cord_mask.dataobj) > 0)
    return float(_world(voxels, cord_mask.affine)[:, 0].mean())


# --- panels of nibabel images (an image's own voxel planes) -----------------------------------------------


def sagittal_mip_panel(
    image: nib.Nifti1Image,
    lesion_mask: nib.Nifti1Image | None = None,
    ax: Axes | None = None,
    x_mm: float | None = None,
    z_shift_mm: float = 0.0,
    vmax: float | None = None,
    title: str | None = None,
) -> Axes:
    """Mid-sagittal slice of ``image`` in grey, lesion maximum-intensity projection (MIP) in red (paper Fig 2A-B).

    Parameters
    ----------
    image : nibabel.Nifti1Image
        3D image.
    lesion_mask : nibabel.Nifti1Image, optional
        Mask on the image's grid; its maximum over the whole right-left axis is overlaid, so every lesion
        shows whatever its R-L position.
    ax : matplotlib Axes, optional
        Axes to draw on (a new figure if None). Anterior is on the left, superior up; world mm.
    x_mm : float, optional
        World x (mm) of the sagittal plane; default the image's middle R-L slice. Pass the same value for
        images that should show the same plane.
    z_shift_mm : float, default 0
        Draw the image this far up (mm), to pull chunks apart.
    vmax : float, optional
        Grey level shown white; default the 99.5th percentile of the positive voxels.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib Axes
    """
    data, affine = _rpi(image)
    lesion = _rpi_mask(lesion_mask, image, data.shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.0, 7.5))
    i = _sagittal_index(affine, data.shape, x_mm)
    extent = _extent(affine, data.shape, (1, 2), fixed=i, shift=(0.0, z_shift_mm))
    if vmax is None:
        vmax = white_level(data)
    draw_sagittal_mip(ax, data[i], None if lesion is None else lesion.max(axis=0), extent, vmax)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def axial_lesion_panel(
    image: nib.Nifti1Image,
    lesion_mask: nib.Nifti1Image | None = None,
    cord_mask: nib.Nifti1Image | None = None,
    ax: Axes | None = None,
    k: int | None = None,
    title: str | None = None,
) -> tuple[Axes, int]:
    """Axial slice with the cord (cyan) and lesion (red) contours (paper Fig 2C); see :func:`draw_axial_slice`.

    Parameters
    ----------
    image : nibabel.Nifti1Image
    lesion_mask, cord_mask : nibabel.Nifti1Image, optional
        Masks on the image's grid.
    ax : matplotlib Axes, optional
    k : int, optional
        Axial slice index in RPI order (0 = most inferior); default :func:`most_informative_slice` of
        (lesion, cord).
    title : str, optional
        Axes title (the slice index is appended).

    Returns
    -------
    (Axes, int)
        The axes and the slice shown.
    """
    data, affine = _rpi(image)
    lesion = _rpi_mask(lesion_mask, image, data.shape)
    cord = _rpi_mask(cord_mask, image, data.shape)
    if k is None:
        k = most_informative_slice((lesion, cord), data.shape[2])
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    draw_axial_slice(ax, data, k, voxel_sizes(affine), ((cord, CORD_COLOUR), (lesion, LESION_COLOUR)))
    ax.set_title(f"{title + ', ' if title else ''}slice {k}", fontsize=9)
    return ax, int(k)


# --- several volumes on one world plane (paper Fig 2A) -----------------------------------------------------


@dataclass
class SagittalView:
    """A mid-sagittal slice and the lesion maximum-intensity projection on a world-space (A-P, S-I) grid.

    Attributes
    ----------
    image : numpy.ndarray
        Shape ``(n_ap, n_si)``; intensities scaled to [0, 1] per source volume; NaN outside every volume.
    lesion_mip : numpy.ndarray
        Shape ``(n_ap, n_si)``, bool: a lesion voxel somewhere along the R-L line through this point.
    ap_mm, si_mm : numpy.ndarray
        World y (posterior->anterior) and z (inferior->superior) coordinates of the grid, mm.
    x_mm : float
        World x (R-L) of the sagittal plane, mm.
    """

    image: np.ndarray
    lesion_mip: np.ndarray
    ap_mm: np.ndarray
    si_mm: np.ndarray
    x_mm: float


def sagittal_view(volumes: list[tuple[Path, Path | None, Path | None]]) -> SagittalView:
    """Place one or more volumes (whole-spine image, or the chunks of a session) on one sagittal plane.

    The plane is the world x of the cord's centre of mass (or of the volumes' centres without cord masks).
    Each volume is sampled there by nearest neighbour on a grid with the finest A-P and S-I spacing of the
    inputs; later volumes overwrite earlier ones where chunks overlap. The lesion MIP is taken along each
    volume's R-L voxel axis, then placed the same way.

    Parameters
    ----------
    volumes : list of (image, cord, lesion) paths
        ``cord`` and ``lesion`` may be None.
    """
    loaded = []
    for image_path, cord_path, lesion_path in volumes:
        data, affine = to_rpi(*load_image(image_path))
        cord = to_rpi(*load_mask(cord_path))[0] if cord_path else None
        lesion = to_rpi(*load_mask(lesion_path))[0] if lesion_path else None
        loaded.append((data, affine, cord, lesion))
    corners = np.concatenate([_corners(d.shape, a) for d, a, _, _ in loaded])
    cords = [(c, a) for _, a, c, _ in loaded if c is not None and c.any()]
    if cords:
        points = np.concatenate([_world(np.argwhere(c), a) for c, a in cords])
        x_mm = float(points[:, 0].mean())
    else:
        x_mm = float(np.mean([_world(np.array([np.array(d.shape) / 2 - 0.5]), a)[0, 0] for d, a, _, _ in loaded]))
    step_ap = min(voxel_sizes_rpi(a)[1] for _, a, _, _ in loaded)
    step_si = min(voxel_sizes_rpi(a)[2] for _, a, _, _ in loaded)
    ap = np.arange(corners[:, 1].min() + step_ap / 2, corners[:, 1].max(), step_ap)  # sample centres
    si = np.arange(corners[:, 2].min() + step_si / 2, corners[:, 2].max(), step_si)
    grid = np.stack(np.meshgrid(ap, si, indexing="ij"), axis=-1).reshape(-1, 2)
    world = np.column_stack([np.full(len(grid), x_mm), grid, np.ones(len(grid))])
    image = np.full(len(grid), np.nan)
    mip = np.zeros(len(grid), bool)
    for data, affine, _, lesion in loaded:
        ijk = np.rint((np.linalg.inv(affine) @ world.T)[:3].T).astype(int)
        inside = np.all((ijk >= 0) & (ijk < data.shape), axis=1)
        i, j, k = ijk[inside].T
        image[inside] = np.clip(data[i, j, k] / white_level(data), 0, 1)
        if lesion is not None:
            mip[inside] |= lesion.max(axis=0)[j, k] > 0
    shape = (len(ap), len(si))
    return SagittalView(image.reshape(shape), mip.reshape(shape), ap, si, x_mm)


def draw_sagittal(ax: Axes, view: SagittalView, title: str = "") -> None:
    """Draw a :class:`SagittalView` on ``ax`` with :func:`draw_sagittal_mip` (slice grey, lesion MIP red)."""
    half_ap = 0.5 * (view.ap_mm[1] - view.ap_mm[0]) if len(view.ap_mm) > 1 else 0.5
    half_si = 0.5 * (view.si_mm[1] - view.si_mm[0]) if len(view.si_mm) > 1 else 0.5
    extent = (view.ap_mm[0] - half_ap, view.ap_mm[-1] + half_ap, view.si_mm[0] - half_si, view.si_mm[-1] + half_si)
    draw_sagittal_mip(ax, view.image, view.lesion_mip, extent, vmax=1.0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.set_title(title or f"mid-sagittal slice (x = {view.x_mm:.1f} mm)\nlesion MIP in red", fontsize=9)


def plot_sagittal(views: SagittalView | list[SagittalView], titles: str | list[str] = "") -> Figure:
    """Fig 2A-like: one panel per view (e.g. the chunks placed in world space, and the ground truth)."""
    views = [views] if isinstance(views, SagittalView) else list(views)
    titles = [titles] * len(views) if isinstance(titles, str) else list(titles)
    height = 7.5
    widths = [height * np.ptp(v.ap_mm) / max(np.ptp(v.si_mm), 1.0) for v in views]
    width = min(TEXT_WIDTH_IN, max(4.0, sum(widths) + 2.2 * len(views)))
    fig, axes = plt.subplots(1, len(views), figsize=(width, height), sharey=True, squeeze=False)
    for ax, view, title in zip(axes[0], views, titles):
        draw_sagittal(ax, view, title)
    for ax in axes[0, 1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


# --- a dataset row -------------------------------------------------------------------------------------


def load_rpi(row) -> dict[str, np.ndarray | None]:
    """Image, cord and lesion of a dataset row in RPI orientation, with voxel sizes (mm).

    Returns
    -------
    dict
        ``image`` (float32), ``cord`` and ``lesion`` (uint8 or None), ``voxel_mm`` (R-L, P-A, I-S).
    """
    image, affine = to_rpi(*load_image(row.image))
    out = {"image": image, "voxel_mm": voxel_sizes_rpi(affine), "cord": None, "lesion": None}
    for kind in ("cord", "lesion"):
        path = getattr(row, kind)
        if path is not None and not pd.isna(path):
            out[kind] = to_rpi(*load_mask(path))[0]
    return out


def volume_slice(volume: dict) -> int:
    """:func:`most_informative_slice` of a :func:`load_rpi` volume (lesion, then cord)."""
    return most_informative_slice((volume.get("lesion"), volume.get("cord")), volume["image"].shape[2])


def draw_volume(ax: Axes, volume: dict, k: int) -> None:
    """Axial slice ``k`` of a :func:`load_rpi` volume with its cord (cyan) and lesion (red) outlines."""
    draw_axial_slice(ax, volume["image"], k, volume["voxel_mm"],
                     ((volume.get("cord"), CORD_COLOUR), (volume.get("lesion"), LESION_COLOUR)))


def plot_axial(volume: dict, k: int | None = None, title: str = "") -> Figure:
    """A static axial panel of a :func:`load_rpi` volume; ``k`` defaults to :func:`volume_slice`."""
    k = volume_slice(volume) if k is None else k
    fig, ax = plt.subplots(figsize=(4.0, 4.0))
    draw_volume(ax, volume, k)
    ax.set_title(f"{title} slice {k}".strip(), fontsize=9)
    fig.tight_layout()
    return fig


# --- stitching ------------------------------------------------------------------------------------------


def ramp_weights_plot(result, ax: Axes | None = None, labels: list[str] | None = None) -> Axes:
    """Normalised ramp weight of each chunk along the stacking axis, through the middle of every overlap.

    Parameters
    ----------
    result : sclesion.preprocessing.stitching.stitch.StitchResult
        A stitch with at least one overlap (``result.weights`` not empty).
    ax : matplotlib Axes, optional
    labels : list of str, optional
        One name per input chunk (default ``chunk 1``, ``chunk 2``, ... in input order).

    Returns
    -------
    matplotlib Axes
        Weight (0..1) against the world coordinate (mm) that the stacking axis follows most closely.
    """
    if not result.weights:
        raise InputError("this stitch has no overlap, so there are no ramp weights to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.0))
    axis = result.report.stacking_axis
    affine = result.report.affine
    world_axis = int(np.argmax(np.abs(affine[:3, axis])))
    n_chunks = result.weights[0].weights.shape[0]
    labels = labels or [f"chunk {k + 1}" for k in range(n_chunks)]
    colours = plt.get_cmap("tab10")
    for region in result.weights:
        middle = [(s.start + s.stop - 1) // 2 for s in region.box]
        index = np.array([middle] * (region.box[axis].stop - region.box[axis].start))
        index[:, axis] = np.arange(region.box[axis].start, region.box[axis].stop)
        position = (index @ affine[:3, :3].T + affine[:3, 3])[:, world_axis]
        local = [m - s.start for m, s in zip(middle, region.box)]
        for k in range(n_chunks):
            local_index = list(local)
            local_index[axis] = slice(None)
            profile = region.weights[k][tuple(local_index)]
            if profile.any():
                ax.plot(position, profile, "o-", color=colours(k), label=labels[k], markersize=4)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, frameon=False)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(f"world {_WORLD_AXES[world_axis]} position (mm)")
    ax.set_ylabel("normalised weight")
    return ax


def _rpi(image: nib.Nifti1Image) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(image, nib.spatialimages.SpatialImage) or len(image.shape) != 3:
        raise InputError("expected a 3D nibabel image to draw")
    return to_rpi(np.asarray(image.dataobj), image.affine)


def _rpi_mask(mask: nib.Nifti1Image | None, image: nib.Nifti1Image, shape: tuple[int, ...]) -> np.ndarray | None:
    """The mask in RPI, after checking it lies on the image's grid."""
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(image.shape) or not affines_match(mask.affine, image.affine):
        raise InputError(f"mask grid {tuple(mask.shape)} differs from the image's {tuple(image.shape)} "
                         "(shape or affine)")
    data, _ = to_rpi(np.asarray(mask.dataobj), mask.affine)
    return data


def _sagittal_index(affine: np.ndarray, shape: tuple[int, ...], x_mm: float | None) -> int:
    """RPI axis-0 index of the sagittal plane nearest to world ``x_mm`` (through the volume's centre)."""
    if x_mm is None:
        return (shape[0] - 1) // 2
    centre = (np.asarray(shape[:3]) - 1) / 2.0
    world_centre = affine[:3, :3] @ centre + affine[:3, 3]
    world_centre[0] = x_mm
    index = np.linalg.solve(affine[:3, :3], world_centre - affine[:3, 3])[0]
    return int(np.clip(np.rint(index), 0, shape[0] - 1))


def _extent(affine, shape, axes: tuple[int, int], fixed: int, shift: tuple[float, float]) -> tuple[float, ...]:
    """imshow extent (mm) of the plane through ``fixed`` on RPI axis 0 spanned by ``axes`` (voxel edges)."""
    corners = []
    for a in (-0.5, shape[axes[0]] - 0.5):
        for b in (-0.5, shape[axes[1]] - 0.5):
            index = np.zeros(3)
            index[0], index[axes[0]], index[axes[1]] = fixed, a, b
            corners.append(affine[:3, :3] @ index + affine[:3, 3])
    corners = np.array(corners)
    first, second = corners[:, axes[0]], corners[:, axes[1]]  # RPI axes 1, 2 run along world y, z
    return (first.min() + shift[0], first.max() + shift[0], second.min() + shift[1], second.max() + shift[1])


def white_level(data: np.ndarray) -> float:
    """Grey level shown white: the 99.5th percentile of the positive voxels (1 without any)."""
    positive = data[data > 0]
    return float(np.percentile(positive, 99.5)) if positive.size else 1.0


def _corners(shape, affine) -> np.ndarray:
    ranges = [(-0.5, n - 0.5) for n in shape[:3]]
    corners = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T
    return _world(corners, affine)


def _world(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return ijk @ affine[:3, :3].T + affine[:3, 3]
