"""Warping fields: their file convention, and resampling images and label maps through them.

Convention (the one ANTs, ITK and SCT use, so fields are interchangeable with theirs)
------------------------------------------------------------------------------------
A warping field is a NIfTI image of shape ``(X, Y, Z, 1, 3)``, float32, intent ``vector`` (1007), defined
on the grid of the space images are warped INTO (the reference, or "fixed", space). The vector stored at
the reference voxel with world position ``p`` is a displacement ``d`` in mm, in ITK's LPS world
coordinates (x to the left, y posterior, z superior): the image value that belongs at ``p`` is read from the
moving image at world position ``p + d``. A field is named after the way images travel through it: the
``native_to_straight`` field lives on the straight grid and carries native (curved) images into straight
space; ``straight_to_native`` lives on the native grid and carries straight images back.

Inside this library world positions are RAS+ (nibabel's convention); :func:`field_image` and
:func:`field_positions` do the LPS <-> RAS sign flip of x and y.

Sampling beyond the moving image: a voxel covers half a voxel on each side of its centre, so positions up
to half a voxel outside the grid take the edge value; anything farther out is 0.

Where a field's positions fall in a moving grid is computed once per field object and moving grid
(:func:`warp_coordinates`): straightening warps an image and its masks through the same field, and the
straightening measures warp several masks there and back.
"""

from __future__ import annotations

import weakref
from typing import Literal

import nibabel as nib
import numpy as np
from scipy import ndimage

from sclesion.core.conventions import REGION_THRESHOLD
from sclesion.core.errors import InputError
from sclesion.core.nifti import check_grid, read_data

Interpolation = Literal["nearest", "linear", "spline"]

#: Spline order of each interpolation name (``spline`` is cubic, as in SCT and ANTs' BSpline default).
ORDERS: dict[str, int] = {"nearest": 0, "linear": 1, "spline": 3}


def grid_positions(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """World positions (RAS+ mm) of every voxel centre of a grid, shape ``shape + (3,)``, float32."""
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    linear = affine[:3, :3].astype(np.float32)
    positions = affine[:3, 3].astype(np.float32) + axes[0][:, None, None, None] * linear[:, 0]
    positions = positions + axes[1][None, :, None, None] * linear[:, 1]
    return positions + axes[2][None, None, :, None] * linear[:, 2]


def field_image(displacement: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """Warping field image from the displacement of every reference voxel.

    Parameters
    ----------
    displacement : ndarray, shape (X, Y, Z, 3), float32
        For each voxel of the reference grid, the vector (RAS+ mm) from its world position to the position
        to read the moving image at. The array becomes the image's data: it is converted to LPS in place
        (no copy of a field that can hold hundreds of MB).
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the reference grid.

    Returns
    -------
    nib.Nifti1Image
        Displacement field, shape (X, Y, Z, 1, 3), LPS mm, float32, intent vector (see module docstring).
    """
    lps = np.asarray(displacement, dtype=np.float32)
    lps[..., :2] *= -1
    image = nib.Nifti1Image(lps[:, :, :, None, :], affine)
    image.header.set_intent("vector")
    image.header.set_xyzt_units("mm", "sec")
    return image


def field_positions(field: nib.Nifti1Image, path=None) -> np.ndarray:
    """Moving-space world positions (RAS+ mm) stored in a warping field, shape (X, Y, Z, 3), float32.

    Accepts the 5D ITK layout ``(X, Y, Z, 1, 3)`` and the equivalent 4D layout ``(X, Y, Z, 3)``.
    """
    shape = field.shape
    if not (len(shape) == 5 and shape[3:] == (1, 3) or len(shape) == 4 and shape[3] == 3):
        raise InputError(
            f"not a warping field: shape {shape}; expected (X, Y, Z, 1, 3) displacements in mm", path
        )
    positions = read_data(field, path or "the warping field").reshape(shape[:3] + (3,)).copy()
    positions[..., :2] *= -1  # LPS -> RAS
    positions += grid_positions(shape[:3], field.affine)
    return positions


def voxel_coordinates(
    positions: np.ndarray, affine: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel coordinates of world positions in a grid, for the positions that fall inside it.

    A position is inside when it lies within half a voxel of the grid; its coordinates are then clipped to
    the grid (the edge voxel covers that half voxel). Computed in chunks so intermediates stay in cache.

    Parameters
    ----------
    positions : ndarray, shape (..., 3)
        World positions (RAS+ mm).
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the grid.
    shape : tuple of int
        Grid shape (X, Y, Z).

    Returns
    -------
    inside : ndarray of int, shape (n,)
        Flat indices (into ``positions.reshape(-1, 3)``) of the positions inside the grid.
    coords : ndarray, shape (3, n), float32
        Their voxel coordinates, one row per axis (the layout ``scipy.ndimage.map_coordinates`` wants).
    """
    inverse = np.linalg.inv(affine).astype(np.float32)
    upper = np.array(shape, dtype=np.float32)[:, None] - 1
    flat = positions.reshape(-1, 3)
    found, coords = [], []
    for start in range(0, flat.shape[0], 1 << 18):
        part = flat[start : start + (1 << 18)]
        # Row-wise products: far faster than an (N, 3) @ (3, 3) matmul in numpy.
        chunk = np.stack([part @ inverse[axis, :3] + inverse[axis, 3] for axis in range(3)])
        ok = np.all((chunk >= -0.5) & (chunk <= upper + 0.5), axis=0)
        found.append(np.flatnonzero(ok) + start)
        coords.append(chunk[:, ok])
    coords = np.concatenate(coords, axis=1) if coords else np.zeros((3, 0), dtype=np.float32)
    return np.concatenate(found) if found else np.zeros(0, dtype=int), np.clip(coords, 0, upper)


#: Per field image: moving grid (affine bytes, shape) -> :func:`voxel_coordinates` of the field's positions.
_COORDINATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def warp_coordinates(field: nib.Nifti1Image, affine: np.ndarray, shape: tuple[int, int, int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`voxel_coordinates` of a field's moving-space positions (:func:`field_positions`) in a moving grid.

    Kept for as long as the field image lives, per moving grid: the arrays are shared between calls and must
    not be changed; a field's data must not change after its first use.

    Parameters
    ----------
    field : nib.Nifti1Image
        Warping field.
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the moving grid.
    shape : tuple of int
        Moving grid shape (X, Y, Z).
    """
    per_grid = _COORDINATES.setdefault(field, {})
    key = (np.asarray(affine, dtype=np.float64).tobytes(), tuple(int(n) for n in shape))
    if key not in per_grid:
        per_grid[key] = voxel_coordinates(field_positions(field, field.get_filename()), affine, key[1])
    return per_grid[key]


def interpolate(volume: np.ndarray, coords: np.ndarray, order: int, only: np.ndarray | None = None) -> np.ndarray:
    """Interpolate a volume at voxel coordinates inside it (from :func:`voxel_coordinates`).

    Parameters
    ----------
    volume : ndarray, shape (X, Y, Z)
        Values (converted to float32).
    coords : ndarray, shape (3, n)
        Voxel coordinates within ``[0, size - 1]`` on each axis.
    order : int
        Spline order: 0 nearest, 1 linear, 3 cubic.
    only : ndarray of bool, shape (n,), optional
        Interpolate at these coordinates only; the values are those of the full call (same crop, same
        prefilter).

    Returns
    -------
    ndarray, shape (n,) or (number of ``only``,), float32
    """
    if coords.shape[1] == 0:
        return np.zeros(0, dtype=np.float32)
    # Work on the bounding box of the coordinates to keep prefiltering cheap. The cubic prefilter has infinite
    # support, decaying by 0.27 per voxel: an 8-voxel margin makes the crop's edges irrelevant (< 1e-4).
    margin = 8 if order > 1 else 1
    low = np.maximum(np.floor(coords.min(axis=1)).astype(int) - margin, 0)
    high = np.minimum(np.ceil(coords.max(axis=1)).astype(int) + margin + 1, volume.shape)
    crop = np.asarray(volume[low[0] : high[0], low[1] : high[1], low[2] : high[2]], dtype=np.float32)
    local = (coords if only is None else coords[:, only]) - low[:, None].astype(np.float32)
    return ndimage.map_coordinates(crop, local, order=order, mode="nearest", prefilter=order > 1)


def sample(volume: np.ndarray, affine: np.ndarray, positions: np.ndarray, order: int) -> np.ndarray:
    """Interpolate a volume at world positions.

    Parameters
    ----------
    volume : ndarray, shape (X, Y, Z)
        Values to interpolate (converted to float32).
    affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine of ``volume``.
    positions : ndarray, shape (..., 3)
        World positions (RAS+ mm).
    order : int
        Spline order: 0 nearest, 1 linear, 3 cubic.

    Returns
    -------
    ndarray, shape positions.shape[:-1], float32
        Interpolated values; 0 more than half a voxel outside the volume.
    """
    inside, coords = voxel_coordinates(positions, affine, volume.shape)
    return _values_at(volume, inside, coords, positions.shape[:-1], order)


def _values_at(volume: np.ndarray, inside: np.ndarray, coords: np.ndarray, shape: tuple[int, ...], order: int
               ) -> np.ndarray:
    """An array of ``shape`` (float32) holding ``volume`` interpolated at ``coords`` for the flat indices
    ``inside`` (:func:`voxel_coordinates`), 0 elsewhere."""
    values = np.zeros(shape, dtype=np.float32)
    values.reshape(-1)[inside] = interpolate(volume, coords, order)
    return values


def apply_warp(
    moving: nib.Nifti1Image,
    warp: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    interp: Interpolation = "linear",
    threshold: float | None = None,
) -> nib.Nifti1Image:
    """Resample a 3D image into the reference grid through a warping field.

    Parameters
    ----------
    moving : nib.Nifti1Image
        3D image or mask to warp.
    warp : nib.Nifti1Image
        Warping field on the reference grid (see the module docstring for the convention).
    reference : nib.Nifti1Image
        Defines the output grid; must be the grid the field is defined on.
    interp : {'nearest', 'linear', 'spline'}
        Interpolation (spline = cubic B-spline).
    threshold : float, optional
        If given, the output is the binary mask ``warped > threshold`` (uint8), e.g. 0.5 for masks.

    Returns
    -------
    nib.Nifti1Image
        On the reference grid: uint8 if thresholded, the moving dtype for nearest interpolation, else float32.
    """
    if interp not in ORDERS:
        raise InputError(f"unknown interpolation {interp!r}; choose from {', '.join(ORDERS)}")
    if len(moving.shape) != 3:
        raise InputError(f"apply_warp needs a 3D image; got shape {moving.shape}", moving.get_filename())
    _check_field_grid(warp, reference)
    volume = read_data(moving, moving.get_filename() or "the moving image", dtype=None)
    inside, coords = warp_coordinates(warp, moving.affine, volume.shape)
    values = _values_at(volume, inside, coords, warp.shape[:3], ORDERS[interp])
    if threshold is not None:
        data = (values > threshold).astype(np.uint8)
    elif interp == "nearest":
        data = values.astype(moving.get_data_dtype())
    else:
        data = values
    out = nib.Nifti1Image(data, reference.affine)
    out.header.set_xyzt_units("mm", "sec")
    return out


def _check_field_grid(field: nib.Nifti1Image, reference: nib.Nifti1Image) -> None:
    """A field must be defined on the grid of the reference: :class:`InputError` saying what differs."""
    try:
        check_grid(field, field.get_filename() or "the warping field", reference, "the reference")
    except InputError as err:
        raise InputError(f"{err.problem}: the field is not defined on the reference grid; pass the image whose "
                         "space the field warps into", err.path) from None


#: Distance (voxels, along any axis) from a binary region's bounding box beyond which its cubic spline stays
#: below 0.5. The spline coefficients of a 0/1 volume are the volume filtered by h(n) = sqrt(3) (-0.268)^|n|
#: on each axis, so a coefficient d voxels (along one axis) from the box is at most
#: 2.37 * 0.268^d * 3.0^2 = 21.3 * 0.268^d; the spline at a point is a convex combination of the
#: coefficients within 2 voxels of it: 6 voxels from the box, |value| <= 21.3 * 0.268^4 = 0.11.
SPLINE_REACH = 6


def near_region(region: np.ndarray, coords: np.ndarray, reach: int = SPLINE_REACH) -> np.ndarray:
    """Which coordinates (shape (3, n), voxels of ``region``'s grid) lie within ``reach`` voxels of the
    bounding box of a non-empty binary region on every axis: elsewhere its cubic spline is below 0.5
    (:data:`SPLINE_REACH`), so warping the region needs no interpolation there."""
    box = np.nonzero(region)
    near = np.ones(coords.shape[1], dtype=bool)
    for axis in range(3):
        near &= (coords[axis] >= box[axis].min() - reach) & (coords[axis] <= box[axis].max() + reach)
    return near


def warp_labels_back(
    label_map_straight: nib.Nifti1Image, inverse_field: nib.Nifti1Image, native_reference: nib.Nifti1Image
) -> nib.Nifti1Image:
    """Bring a straight-space region label map (1 cord, 2 lesion) back to native space.

    As the authors did with ``sct_apply_transfo``: each region is warped separately with cubic spline
    interpolation and binarized at 0.5, then recombined with lesion over cord. The regions are the nnU-Net
    ones: cord = label >= 1 (lesions lie inside the cord), lesion = label == 2.

    Parameters
    ----------
    label_map_straight : nib.Nifti1Image
        Integer label map on the straight grid (0 background, 1 cord, 2 lesion).
    inverse_field : nib.Nifti1Image
        The ``straight_to_native`` field, defined on the native grid.
    native_reference : nib.Nifti1Image
        Image on the native grid (defines the output grid).

    Returns
    -------
    nib.Nifti1Image
        uint8 label map on the native grid: 0 background, 1 cord, 2 lesion.
    """
    _check_field_grid(inverse_field, native_reference)
    labels = read_data(label_map_straight, label_map_straight.get_filename() or "the label map", dtype=None)
    inside, coords = warp_coordinates(inverse_field, label_map_straight.affine, labels.shape)
    out = np.zeros(native_reference.shape[:3], dtype=np.uint8)
    for value, region in ((1, labels >= 1), (2, labels == 2)):
        if not region.any():  # the spline of an empty region is 0 everywhere
            continue
        near = near_region(region, coords)
        warped = interpolate(region, coords, ORDERS["spline"], only=near) > REGION_THRESHOLD
        out.reshape(-1)[inside[near][warped]] = value
    result = nib.Nifti1Image(out, native_reference.affine)
    result.header.set_xyzt_units("mm", "sec")
    return result
