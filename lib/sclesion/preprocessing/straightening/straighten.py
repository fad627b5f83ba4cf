"""Spinal cord straightening (paper 2.2.2; SCT's ``sct_straighten_spinalcord``, reimplemented).

Method (book/methods.md, "Straightening")
-----------------------------------------
1. Centerline: the mean position of the cord mask on each axial slice, fitted with a smooth cubic
   B-spline and resampled by arc length (:mod:`sclesion.preprocessing.straightening.centerline`).
2. Straight space: a grid whose slices are the planes orthogonal to the centerline, each with a square
   in-plane field of view of +-``fov_mm`` around the cord at the native in-plane spacing. Its length is the
   arc length between the centroids of the first and last cord slices, and its slice spacing the native slice
   thickness adjusted (by at most half a slice over the whole length) so that the first and last straight
   slices fall exactly on those end centroids: an end slice sampled half a slice away would reach the
   binarization threshold of 0.5 exactly and be lost. Straight voxel ``(i, j, k)`` sits at in-plane offsets
   ``u = (c - i) dx`` (to the right) and ``v = (j - c) dy`` (anterior), ``c`` the centre voxel, and at arc
   length ``s_k``; its curved (native) world position is ``centerline(s_k) + u right(s_k) + v anterior(s_k)``.
   The straight grid is RPI like the native one; in world coordinates it is an upright column whose axis is
   the vertical line through the mean in-plane position of the centerline, starting at the height of the
   centerline's inferior end, so straight world position = origin + (u, v, s).
3. The inverse: each native voxel near the cord is projected onto the centerline (the arc length whose
   normal plane contains it, by Newton's method) and its offset expressed in the local frame gives its
   straight position. Farther voxels use the tangent line at the slice's crossing point instead; they land
   outside the straight field of view either way.

Both maps are stored as ITK/ANTs-style displacement fields (see :mod:`sclesion.preprocessing.straightening.warp`
for the convention), named, like their files (``*_from-native_to-straight_xfm.nii.gz``,
``*_from-straight_to-native_xfm.nii.gz``), by the way images travel through them: ``native_to_straight`` on the
straight grid (carries native images to straight space; SCT's ``warp_curve2straight``) and ``straight_to_native``
on the native grid (carries straight images back; SCT's ``warp_straight2curve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from sclesion.core.atomic import save_nifti, write_text
from sclesion.core.conventions import REGION_THRESHOLD, STRAIGHT_FOV_HALF_WIDTH_MM
from sclesion.preprocessing.straightening.centerline import Centerline, fit_centerline, slice_centroids
from sclesion.core.errors import InputError
from sclesion.core.names import require_nifti
from sclesion.core.nifti import (axcodes, check_grid, load_checked, load_field, load_nifti, nifti_stem, read_data,
                                 reorient, to_rpi, validate_mask_against, voxel_sizes)
from sclesion.core.provenance import OutputSet
from sclesion.preprocessing.straightening.warp import (ORDERS, Interpolation, apply_warp, field_image, grid_positions,
                                                       sample, warp_labels_back)

#: Largest angle (degrees) between the centerline and the slice normal that straightening accepts.
MAX_TILT_DEGREES = 70

#: Largest half width (mm) of the straight in-plane field of view: a body is about 200 mm across, so larger
#: values only allocate memory (the straight grid grows with its square).
MAX_FOV_MM = 100.0


@dataclass(frozen=True)
class StraightGrid:
    """Geometry of the straight space.

    Attributes
    ----------
    shape : tuple of int
        (X, Y, Z) voxels; X = Y = 2 * half + 1.
    spacing : tuple of float
        (dx, dy, dz) in mm: the native in-plane spacing, and the native slice thickness adjusted to divide
        the centerline's length.
    origin : ndarray, shape (3,)
        World position (RAS+ mm) of straight coordinates u = v = s = 0.
    slice_s : ndarray, shape (Z,)
        Arc length (mm) of each straight slice along the centerline.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: np.ndarray
    slice_s: np.ndarray

    @property
    def half(self) -> int:
        """Index of the centre voxel in-plane (the centerline runs through it)."""
        return self.shape[0] // 2

    @property
    def affine(self) -> np.ndarray:
        """Voxel-to-world (RAS+ mm) affine: axis 0 right to left, axis 1 posterior to anterior, 2 upward."""
        dx, dy, dz = self.spacing
        affine = np.diag([-dx, dy, dz, 1.0])
        affine[:3, 3] = self.origin + [self.half * dx, -self.half * dy, self.slice_s[0]]
        return affine


def check_fov(fov_mm: float) -> None:
    """Raise :class:`InputError` unless ``0 < fov_mm <= MAX_FOV_MM`` (finite), before anything is allocated."""
    if not (np.isfinite(fov_mm) and 0 < fov_mm <= MAX_FOV_MM):
        raise InputError(f"--fov-mm: the field of view half width must be > 0 and <= {MAX_FOV_MM:g} mm; "
                         f"got {fov_mm}")


def _straight_grid(centerline: Centerline, zooms: np.ndarray, fov_mm: float) -> StraightGrid:
    """Straight grid: native in-plane spacing, +-fov_mm in-plane, slices from one end of the centerline to
    the other, spaced by the native slice thickness adjusted to fit the arc length a whole number of times."""
    dx, dy, thickness = (float(z) for z in zooms)
    half = int(round(fov_mm / min(dx, dy)))
    n_slices = max(int(round(centerline.length / thickness)), 1) + 1
    dz = centerline.length / (n_slices - 1)
    points = centerline.points
    origin = np.array([points[:, 0].mean(), points[:, 1].mean(), points[0, 2]])
    return StraightGrid(
        shape=(2 * half + 1, 2 * half + 1, n_slices),
        spacing=(dx, dy, dz),
        origin=origin,
        slice_s=dz * np.arange(n_slices),
    )


def _native_to_straight_positions(centerline: Centerline, grid: StraightGrid) -> np.ndarray:
    """Native world position (RAS+ mm) of every straight voxel, shape grid.shape + (3,), float32: where the
    ``native_to_straight`` field reads native images."""
    dx, dy, _ = grid.spacing
    offsets = np.arange(grid.shape[0], dtype=np.float32) - grid.half
    u = -offsets * dx  # axis 0 runs right to left
    v = offsets * dy
    point, right, anterior = (a.astype(np.float32) for a in centerline.point_frame(grid.slice_s))
    return (
        point[None, None, :, :]
        + u[:, None, None, None] * right[None, None, :, :]
        + v[None, :, None, None] * anterior[None, None, :, :]
    )


def _slice_bands(
    centerline: Centerline, s0: np.ndarray, affine: np.ndarray, fov_mm: float, margin_mm: float
) -> np.ndarray:
    """Half widths (voxels, along native axes 0 and 1) of the in-plane box around the cord on each slice
    that holds every voxel whose straight position can fall within +-(fov_mm + margin_mm).

    Near the crossing point ``c(s0)`` the map from a voxel offset ``(di, dj)`` within the slice to straight
    in-plane coordinates is the linear map ``M = [[e_i.right, e_j.right], [e_i.anterior, e_j.anterior]]``
    (``e_i``, ``e_j`` the voxel axes in mm); the box bounds ``M^-1`` of the square's corners. The margin
    absorbs the curvature neglected by this tangent-plane approximation. Returns shape (Z, 2).
    """
    _, right, anterior = centerline.point_frame(s0)
    axes = affine[:3, :2].astype(np.float32)
    linear = np.stack([right @ axes, anterior @ axes], axis=1)  # (Z, 2, 2): rows u, v; columns di, dj
    reach = fov_mm + margin_mm
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.float32).T * reach
    return np.abs(np.linalg.inv(linear) @ corners).max(axis=2) + 1


def _straight_to_native_displacement(
    centerline: Centerline, grid: StraightGrid, shape: tuple[int, int, int], affine: np.ndarray, fov_mm: float
) -> np.ndarray:
    """The ``straight_to_native`` displacement: for every voxel of an RPI native grid, the vector (RAS+ mm) to
    its straight world position, where straight images are read to carry them back to native space.

    Slice by slice: ``s0``, where the centerline crosses the slice, seeds the map of the whole slice onto the
    straight space of the tangent line at ``c(s0)``; voxels in the band that can reach the straight field of
    view are then projected onto the curve itself by Newton's method. Returns shape shape + (3,), float32.
    """
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal *= np.sign(normal @ affine[:3, 2])  # towards increasing slice index (superior)
    tilt = np.degrees(np.arccos(np.clip(centerline.tangents @ (normal / np.linalg.norm(normal)), -1, 1))).max()
    if tilt > MAX_TILT_DEGREES:
        raise InputError(
            f"the cord centerline is tilted {tilt:.0f} degrees from the slice normal (at most "
            f"{MAX_TILT_DEGREES} supported): the axial slices do not cut across the cord"
        )
    inverse = np.linalg.inv(affine)
    crossing = centerline.points @ inverse[2, :3] + inverse[2, 3]  # slice coordinate along the curve (increasing)
    # Arc length where the curve, extended along its end tangents, crosses each slice.
    k = np.arange(shape[2], dtype=float)
    slope = centerline.tangents[[0, -1]] @ inverse[2, :3]
    s0 = np.interp(k, crossing, centerline.s)
    s0 = np.where(k < crossing[0], (k - crossing[0]) / slope[0], s0)
    s0 = np.where(k > crossing[-1], centerline.length + (k - crossing[-1]) / slope[1], s0)
    c0, t0, _ = centerline.point_tangent_curvature(s0)
    _, r0, a0 = centerline.point_frame(s0)
    frame = np.stack([r0, a0, t0], axis=1)  # (Z, 3 straight axes, 3 world components)
    centre = (c0 @ inverse[:3, :3].T.astype(np.float32) + inverse[:3, 3])[:, :2]
    half_band = _slice_bands(centerline, s0, affine, fov_mm, margin_mm=5.0 + 2 * max(grid.spacing[:2]))

    # Tangent-line map of the whole slice: voxel p = A (i, j, k, 1) goes to origin + frame (p - c0) + (0, 0, s0),
    # so its displacement (that, minus p) is affine in i and j on each slice: base + i per_i + j per_j.
    n = shape[2]
    corner = (affine @ np.vstack([np.zeros((2, n)), np.arange(n), np.ones(n)]))[:3].T  # p(0, 0, k), (Z, 3)
    base = np.einsum("zaw,zw->za", frame, corner - c0) + grid.origin + np.outer(s0, [0, 0, 1]) - corner
    per_i = frame @ affine[:3, 0] - affine[:3, 0]  # (Z, 3)
    per_j = frame @ affine[:3, 1] - affine[:3, 1]
    i = np.arange(shape[0], dtype=np.float32)[:, None, None, None]
    j = np.arange(shape[1], dtype=np.float32)[None, :, None, None]
    out = base.astype(np.float32) + i * per_i.astype(np.float32) + j * per_j.astype(np.float32)

    # Within the band, project the voxels onto the curve itself. The arc length is smooth in-plane (its
    # second derivative is about 2 x curvature x tan(tilt) < 0.01 / mm), so Newton runs on every other voxel
    # and bilinear interpolation fills in between (error < 1e-3 mm); the in-plane offsets are then exact for
    # that arc length and, the offset being orthogonal to the tangent there, insensitive to its error.
    origin = grid.origin.astype(np.float32)
    for z in range(shape[2]):
        low = np.maximum(np.floor(centre[z] - half_band[z]).astype(int), 0)
        high = np.minimum(np.ceil(centre[z] + half_band[z]).astype(int) + 1, shape[:2])
        if np.any(high <= low):
            continue
        n_coarse = (high - low) // 2 + 1  # every other voxel, from low to at least high - 1
        coarse_affine = affine @ _translation([low[0], low[1], z]) @ np.diag([2.0, 2.0, 1.0, 1.0])
        coarse = grid_positions(tuple(n_coarse) + (1,), coarse_affine).reshape(-1, 3)
        s_tangent = (coarse - c0[z]) @ t0[z] + s0[z]
        s_coarse = centerline.project(coarse, s_tangent).reshape(n_coarse)
        s = _upsample2(s_coarse)[: high[0] - low[0], : high[1] - low[1]].ravel()
        band = (slice(low[0], high[0]), slice(low[1], high[1]), z)
        points = grid_positions(tuple(high - low) + (1,), affine @ _translation([low[0], low[1], z])).reshape(-1, 3)
        straight = np.column_stack([centerline.straight_coordinates(points, s), s])
        out[band] = (straight + origin - points).reshape(out[band].shape)
    return out


def _upsample2(coarse: np.ndarray) -> np.ndarray:
    """Bilinear upsampling by 2 of a 2D array sampled on every other point: shape (m, n) -> (2m-1, 2n-1)."""
    fine = np.empty((2 * coarse.shape[0] - 1, 2 * coarse.shape[1] - 1), dtype=coarse.dtype)
    fine[::2, ::2] = coarse
    fine[1::2, ::2] = 0.5 * (coarse[:-1] + coarse[1:])
    fine[:, 1::2] = 0.5 * (fine[:, :-2:2] + fine[:, 2::2])
    return fine


def _translation(voxel: list[int]) -> np.ndarray:
    """4x4 voxel-space translation by ``voxel`` (to address a sub-block of a grid)."""
    shift = np.eye(4)
    shift[:3, 3] = voxel
    return shift


@dataclass(frozen=True)
class Straightening:
    """A straightened image, both warping fields and the centerline.

    Attributes
    ----------
    image : nib.Nifti1Image
        The straightened image (float32) on the straight grid, shape (X, Y, Z), RPI.
    native_to_straight : nib.Nifti1Image
        Warping field on the straight grid carrying native images into straight space.
    straight_to_native : nib.Nifti1Image
        Warping field on the native grid carrying straight images back to native space.
    centerline : Centerline
        The fitted centerline (world RAS+ mm, by arc length).
    grid : StraightGrid
        Geometry of the straight space.
    native : nib.Nifti1Image
        The input image (the native grid).
    """

    image: nib.Nifti1Image
    native_to_straight: nib.Nifti1Image
    straight_to_native: nib.Nifti1Image
    centerline: Centerline
    grid: StraightGrid
    native: nib.Nifti1Image = field(repr=False)

    @property
    def centerline_mm(self) -> np.ndarray:
        """Centerline point (world RAS+ mm) at each straight slice, shape (Z, 3)."""
        return self.centerline.point_frame(self.grid.slice_s)[0]

    def centerline_table(self) -> pd.DataFrame:
        """The centerline at each straight slice: s_mm, x_mm, y_mm, z_mm, curvature_per_mm."""
        point, _, curvature = self.centerline.point_tangent_curvature(self.grid.slice_s)
        return pd.DataFrame(
            {
                "s_mm": self.grid.slice_s,
                "x_mm": point[:, 0],
                "y_mm": point[:, 1],
                "z_mm": point[:, 2],
                "curvature_per_mm": np.linalg.norm(curvature, axis=1),
            }
        )

    def to_straight(
        self, img: nib.Nifti1Image, interp: Interpolation = "linear", threshold: float | None = None
    ) -> nib.Nifti1Image:
        """Warp a native image or mask (same grid as the input image) into straight space.

        Masks as the authors did: ``interp='linear', threshold=0.5``.
        """
        return apply_warp(img, self.native_to_straight, self.image, interp=interp, threshold=threshold)

    def to_native(
        self, img: nib.Nifti1Image, interp: Interpolation = "linear", threshold: float | None = None
    ) -> nib.Nifti1Image:
        """Warp a straight-space image or mask back onto the native grid."""
        return apply_warp(img, self.straight_to_native, self.native, interp=interp, threshold=threshold)

    def labels_to_native(self, label_map: nib.Nifti1Image) -> nib.Nifti1Image:
        """Warp a straight region label map (1 cord, 2 lesion) back to native; see :func:`warp_labels_back`."""
        return warp_labels_back(label_map, self.straight_to_native, self.native)


def straighten(
    image: nib.Nifti1Image,
    cord_mask: nib.Nifti1Image,
    fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM,
    interp: Interpolation = "spline",
    knot_spacing_mm: float = 20.0,
    max_gap_slices: int = 1,
) -> Straightening:
    """Straighten the spinal cord of an image along the centerline of its cord mask.

    Parameters
    ----------
    image : nib.Nifti1Image
        3D image (any orientation; axial slices along the voxel axis closest to superior-inferior).
    cord_mask : nib.Nifti1Image
        Cord mask on the same grid (voxels > 0.5 are cord).
    fov_mm : float
        Half width of the square in-plane field of view of the straight space (mm); SCT uses 35.
    interp : {'nearest', 'linear', 'spline'}
        Interpolation of the image (SCT's default is spline).
    knot_spacing_mm : float
        Distance between the knots of the centerline spline (mm): its smoothing scale
        (:func:`sclesion.preprocessing.straightening.centerline.fit_centerline`).
    max_gap_slices : int
        Longest run of cord-free slices tolerated inside the mask.

    Returns
    -------
    Straightening

    Raises
    ------
    InputError
        Mismatched grids, non-3D inputs, an empty or fragmented mask, or a cord that runs along A-P.
    """
    for name, img in (("image", image), ("cord mask", cord_mask)):
        if len(img.shape) != 3:
            raise InputError(f"the {name} must be 3D; got shape {img.shape}", img.get_filename())
    check_grid(cord_mask, cord_mask.get_filename() or "the cord mask", image, "the image")
    check_fov(fov_mm)
    mask_rpi, affine_rpi = to_rpi(read_data(cord_mask, cord_mask.get_filename() or "the cord mask", dtype=None),
                                  cord_mask.affine)
    slices, centroids = slice_centroids(mask_rpi, affine_rpi, max_gap_slices, cord_mask.get_filename())
    zooms = voxel_sizes(affine_rpi)
    centerline = fit_centerline(slices, centroids, float(zooms[2]), knot_spacing_mm=knot_spacing_mm)
    grid = _straight_grid(centerline, zooms, fov_mm)

    native_positions = _native_to_straight_positions(centerline, grid)
    straight_positions = grid_positions(grid.shape, grid.affine)
    if interp not in ORDERS:
        raise InputError(f"unknown interpolation {interp!r}; choose from {', '.join(ORDERS)}")
    straight = sample(read_data(image, image.get_filename() or "the image", dtype=None), image.affine, native_positions,
                      ORDERS[interp])
    straight_image = nib.Nifti1Image(straight, grid.affine)
    straight_image.header.set_xyzt_units("mm", "sec")
    native_to_straight = field_image(native_positions - straight_positions, grid.affine)
    del native_positions, straight_positions

    displacement = _straight_to_native_displacement(centerline, grid, mask_rpi.shape, affine_rpi, fov_mm)
    straight_to_native = field_image(reorient(displacement, affine_rpi, axcodes(image.affine))[0], image.affine)
    return Straightening(straight_image, native_to_straight, straight_to_native, centerline, grid, image)


def load_straightening(
    straight_image: str | Path,
    native_to_straight: str | Path,
    straight_to_native: str | Path,
    native_image: str | Path,
    cord_mask: str | Path,
    fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM,
    knot_spacing_mm: float = 20.0,
    max_gap_slices: int = 1,
) -> Straightening:
    """A :class:`Straightening` from the files a straightening wrote, without computing the fields again.

    The fields and the straightened image are read; the centerline and the straight grid are fitted again from
    the native cord mask (fast, and deterministic), with the settings of the straightening, and checked against
    the straightened image's grid.

    Parameters
    ----------
    straight_image : str or Path
        The straightened image.
    native_to_straight, straight_to_native : str or Path
        ``*_from-native_to-straight_xfm.nii.gz`` (straight grid) and ``*_from-straight_to-native_xfm.nii.gz``
        (native grid).
    native_image, cord_mask : str or Path
        The native image and the cord mask the straightening followed.
    fov_mm, knot_spacing_mm, max_gap_slices
        The settings the straightening used (see :func:`straighten`).

    Raises
    ------
    InputError
        A field not on its grid, or a straightened image whose grid differs from the one the cord mask and
        settings give (written with other settings or from another mask).
    """
    image, native, cord = load_checked(straight_image), load_nifti(native_image), load_checked(cord_mask, "mask")
    forward, backward = load_field(native_to_straight), load_field(straight_to_native)
    mask_rpi, affine_rpi = to_rpi(np.asanyarray(cord.dataobj), cord.affine)
    slices, centroids = slice_centroids(mask_rpi, affine_rpi, max_gap_slices, cord.get_filename())
    zooms = voxel_sizes(affine_rpi)
    centerline = fit_centerline(slices, centroids, float(zooms[2]), knot_spacing_mm=knot_spacing_mm)
    grid = _straight_grid(centerline, zooms, fov_mm)
    if tuple(image.shape) != grid.shape or not np.allclose(image.affine, grid.affine, atol=1e-3):
        raise InputError(f"the straightened image's grid {tuple(image.shape)} is not the one its cord mask gives "
                         f"{grid.shape} with a field of view of +-{fov_mm:g} mm; straighten again", straight_image)
    for field_img, reference, path in ((forward, image, native_to_straight), (backward, native, straight_to_native)):
        if tuple(field_img.shape[:3]) != tuple(reference.shape[:3]) or not np.allclose(
                field_img.affine, reference.affine, atol=1e-3):
            raise InputError("the warping field is not on the grid it belongs to", path)
    return Straightening(image, forward, backward, centerline, grid, native)


@dataclass(frozen=True)
class StraightenedFiles:
    """Paths written by :func:`straighten_files`.

    Attributes
    ----------
    image : Path
        The straightened image (same file name as the input image, in ``out_dir``).
    native_to_straight : Path
        ``<stem>_from-native_to-straight_xfm.nii.gz``: the ``native_to_straight`` field (straight grid).
    straight_to_native : Path
        ``<stem>_from-straight_to-native_xfm.nii.gz``: the ``straight_to_native`` field (native grid).
    centerline : Path
        ``<stem>_centerline.tsv``: :meth:`Straightening.centerline_table`.
    masks : dict of str to Path
        Each mask warped to straight space (linear, then > threshold), under its own file name.
    skipped : bool
        True if every output was up to date and nothing was computed.
    rewritten : bool
        True if outputs of an earlier run with other inputs or options were replaced.
    """

    image: Path
    native_to_straight: Path
    straight_to_native: Path
    centerline: Path
    masks: dict[str, Path]
    skipped: bool
    rewritten: bool = False

    @property
    def all(self) -> list[Path]:
        """Every output path."""
        return [self.image, self.native_to_straight, self.straight_to_native, self.centerline, *self.masks.values()]


def straighten_files(
    image_path: str | Path,
    cord_path: str | Path,
    out_dir: str | Path,
    fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM,
    masks: tuple[str | Path, ...] = (),
    threshold: float = REGION_THRESHOLD,
    interp: Interpolation = "spline",
) -> StraightenedFiles:
    """Straighten an image file along its cord mask file; write the results atomically into ``out_dir``.

    Outputs (see :class:`StraightenedFiles`): the straightened image under the input's file name, both
    warping fields, the centerline table and, for each path in ``masks``, that mask warped to straight space
    with linear interpolation and binarized at ``threshold`` (as the authors did), under its own file name.
    The outputs are one set (:class:`sclesion.core.provenance.OutputSet`): the work is skipped when every
    output is up to date with these inputs and options, and otherwise every output is written again. Inputs
    are never overwritten.

    Every input goes through the validating reader: the image must be readable, 3D and finite; the cord
    mask and every mask must lie on the image grid (shape, affine within 0.001 mm) and hold only 0 and 1.

    Parameters
    ----------
    image_path, cord_path : str or Path
        The image and its cord mask (same grid).
    out_dir : str or Path
        Output folder (created if needed); must not be the folder of an input.
    fov_mm : float
        Half width of the straight in-plane field of view (mm).
    masks : tuple of str or Path
        Masks on the image grid to bring into straight space (e.g. the cord and lesion masks).
    threshold : float
        Binarization threshold of the warped masks.
    interp : {'nearest', 'linear', 'spline'}
        Interpolation of the image.

    Returns
    -------
    StraightenedFiles

    Raises
    ------
    InputError
        Naming the file or option and the problem.
    """
    image_path, cord_path, out_dir = Path(image_path), Path(cord_path), Path(out_dir)
    mask_paths = [Path(m) for m in masks]
    stem = nifti_stem(image_path)
    for path in (image_path, *mask_paths):
        require_nifti(path)
    check_fov(fov_mm)
    if not (np.isfinite(threshold) and 0 < threshold < 1):
        raise InputError(f"the mask threshold must lie strictly between 0 and 1; got {threshold}")
    outputs = StraightenedFiles(
        image=out_dir / image_path.name,
        native_to_straight=out_dir / f"{stem}_from-native_to-straight_xfm.nii.gz",
        straight_to_native=out_dir / f"{stem}_from-straight_to-native_xfm.nii.gz",
        centerline=out_dir / f"{stem}_centerline.tsv",
        masks={str(m): out_dir / m.name for m in mask_paths},
        skipped=False,
    )
    names = [p.name for p in outputs.all]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"two outputs would share the name {repeated[0]} (a --mask named like the image or "
                         "another mask); rename it")
    inputs = {"image": image_path, "cord": cord_path, **{f"mask {m}": p for m, p in enumerate(mask_paths)}}
    record = OutputSet("straighten", outputs.all, inputs,
                       {"fov_mm": float(fov_mm), "threshold": float(threshold), "interp": interp})
    status = record.status()
    if status == "current":
        return StraightenedFiles(**{**outputs.__dict__, "skipped": True})

    image = load_checked(image_path, "image")
    cord = validate_mask_against(image, cord_path)
    mask_images = {str(m): validate_mask_against(image, m) for m in mask_paths}
    result = straighten(image, cord, fov_mm=fov_mm, interp=interp)
    with record.writing():
        for mask_path, target in outputs.masks.items():
            save_nifti(result.to_straight(mask_images[mask_path], interp="linear", threshold=threshold), target)
        write_text(result.centerline_table().to_csv(sep="\t", index=False, float_format="%.4f"), outputs.centerline)
        save_nifti(result.native_to_straight, outputs.native_to_straight)
        save_nifti(result.straight_to_native, outputs.straight_to_native)
        save_nifti(result.image, outputs.image)
    return StraightenedFiles(**{**outputs.__dict__, "rewritten": status == "stale"})
