"""Figure panels for whole-spine images: a mid-sagittal slice with a lesion maximum-intensity projection,
an axial slice through a lesion, and the ramp weights of a stitch.

Every panel takes nibabel images (any orientation; they are shown in RPI, i.e. nibabel axis codes L, A, S:
axis 0 right->left, 1 posterior->anterior, 2 inferior->superior) and draws on a matplotlib ``Axes`` with axes
in mm. Several images can share one sagittal ``Axes``: each is placed at its world position (e.g. the chunks
of a session, optionally pulled apart along S-I with ``z_shift_mm`` so that their overlaps stay visible).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from sclesion.core.errors import InputError
from sclesion.core.nifti import affines_match, to_rpi, voxel_sizes

#: Colour of lesions (MIP and contours) and of the cord contour.
LESION_COLOUR = "red"
CORD_COLOUR = "cyan"

_WORLD_AXES = ("x, R-L", "y, A-P", "z, S-I")


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
        _, ax = plt.subplots(figsize=(3.0, 8.0))
    i = _sagittal_index(affine, data.shape, x_mm)
    extent = _extent(affine, data.shape, (1, 2), fixed=i, shift=(0.0, z_shift_mm))
    if vmax is None:
        positive = data[data > 0]
        vmax = float(np.percentile(positive, 99.5)) if positive.size else 1.0
    ax.imshow(data[i].T, cmap="gray", origin="lower", extent=extent, vmin=0.0, vmax=vmax, interpolation="nearest")
    if lesion is not None and lesion.any():
        mip = lesion.max(axis=0).T > 0
        ax.imshow(np.ma.masked_where(~mip, mip), cmap=ListedColormap([LESION_COLOUR]), origin="lower", extent=extent,
                  vmin=0, vmax=1, interpolation="nearest")
    low, high = sorted(ax.get_xlim())
    ax.set_xlim(high, low)  # anterior on the left (idempotent when several images share the axes)
    ax.set_aspect("equal")
    ax.set_facecolor("black")
    ax.set_xlabel("A-P position (mm)")
    ax.set_ylabel("S-I position (mm)")
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
    """Axial slice with the cord (cyan) and lesion (red) contours (paper Fig 2C).

    Radiological view: the patient's right on the viewer's left, anterior up; axes in mm from the slice's
    first voxel.

    Parameters
    ----------
    image : nibabel.Nifti1Image
    lesion_mask, cord_mask : nibabel.Nifti1Image, optional
        Masks on the image's grid.
    ax : matplotlib Axes, optional
    k : int, optional
        Axial slice index in RPI order (0 = most inferior); default the slice with the most lesion voxels,
        else the most cord voxels, else the middle one.
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
        k = busiest_slice(lesion, cord, data.shape[2])
    if ax is None:
        _, ax = plt.subplots(figsize=(4.0, 4.0))
    vx, vy = voxel_sizes(affine)[:2]
    nx, ny = data.shape[:2]
    ax.imshow(data[:, :, k].T, cmap="gray", origin="lower", interpolation="nearest",
              extent=(-0.5 * vx, (nx - 0.5) * vx, -0.5 * vy, (ny - 0.5) * vy))
    x, y = np.arange(nx) * vx, np.arange(ny) * vy
    for mask, colour in ((cord, CORD_COLOUR), (lesion, LESION_COLOUR)):
        if mask is not None and mask[:, :, k].any():
            ax.contour(x, y, mask[:, :, k].T.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
    ax.set_aspect("equal")
    ax.set_xlabel("R -> L (mm)")
    ax.set_ylabel("P -> A (mm)")
    ax.set_title(f"{title + ', ' if title else ''}slice {k}", fontsize=9)
    return ax, int(k)


def busiest_slice(lesion: np.ndarray | None, cord: np.ndarray | None, n_slices: int) -> int:
    """Axial index (last axis) with the most lesion voxels, else the most cord voxels, else the middle one."""
    for mask in (lesion, cord):
        if mask is not None and mask.any():
            return int(np.argmax(mask.sum(axis=(0, 1))))
    return n_slices // 2


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
        raise InputError(f"mask grid {tuple(mask.shape)} differs from the image's {tuple(image.shape)} (shape or affine)")
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
