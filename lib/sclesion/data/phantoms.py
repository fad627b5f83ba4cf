"""Cord phantoms with a known centerline: the ground truth for testing and benchmarking straightening.

A phantom is an elliptical tube (the cord) inside a wider tube (CSF) along a known 3D curve, optionally
with ellipsoidal lesions placed in the cord's own coordinates: arc length ``s`` along the curve and
in-plane offsets ``(u, v)`` along the right and anterior axes of the local frame (tangent; the global
anterior axis made orthogonal to it; their cross product), as in
:mod:`sclesion.preprocessing.straightening.centerline`. The geometry is computed independently of
:mod:`sclesion.preprocessing.straightening.centerline`: nearest points on a densely sampled curve (KD-tree) and
finite-difference tangents. Voxels are labelled by their centre (no partial volume).

World coordinates are RAS+ mm; grids are RPI (axis 0 right to left, 1 posterior to anterior, 2 inferior
to superior).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy.spatial import cKDTree

#: Intensities of the rendered image (a T2w-like contrast: bright CSF, grey cord, brighter lesions).
BACKGROUND, CSF, CORD, LESION = 0.25, 1.0, 0.5, 0.85


@dataclass(frozen=True)
class Lesion:
    """An ellipsoidal lesion in cord coordinates (all mm): centre ``(s, u, v)`` and semi-axes."""

    s: float
    u: float
    v: float
    radius_s: float
    radius_u: float
    radius_v: float


@dataclass(frozen=True)
class CordPhantom:
    """A rendered phantom and its truth.

    Attributes
    ----------
    image, cord, lesions : nib.Nifti1Image
        T2w-like image (float32), cord mask (uint8 {0,1}, lesions included), lesion label map (uint8, lesion
        ``n`` labelled ``n``, 1-based in the order given), all on the same RPI grid.
    curve_mm : ndarray, shape (M, 3)
        The true centerline densely sampled (every ~0.05 mm), inferior to superior, world RAS+ mm.
    """

    image: nib.Nifti1Image
    cord: nib.Nifti1Image
    lesions: nib.Nifti1Image
    curve_mm: np.ndarray


def rpi_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """RPI voxel-to-world affine with the grid centred on the world origin."""
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = -affine[:3, :3] @ ((np.array(shape) - 1) / 2.0)
    return affine


def s_curve(z_mm: np.ndarray, amplitude_ap: float, amplitude_lr: float, wavelength_mm: float) -> np.ndarray:
    """Points of an S-shaped curve: sinusoids in the A-P (lordosis/kyphosis) and L-R (scoliosis) planes.

    Parameters
    ----------
    z_mm : ndarray, shape (M,)
        Heights (mm), increasing.
    amplitude_ap, amplitude_lr : float
        Amplitudes (mm) of the A-P and L-R excursions.
    wavelength_mm : float
        Wavelength (mm) of the A-P excursion; the L-R one has twice that.

    Returns
    -------
    ndarray, shape (M, 3)
        World RAS+ mm.
    """
    phase = 2 * np.pi * z_mm / wavelength_mm
    return np.column_stack([amplitude_lr * np.sin(0.5 * phase), amplitude_ap * np.sin(phase), z_mm])


def _frames(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arc length, tangent, right and anterior axes at each point of a dense curve (finite differences)."""
    tangent = np.gradient(curve, axis=0)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    anterior = np.array([0.0, 1.0, 0.0]) - tangent[:, 1:2] * tangent
    anterior /= np.linalg.norm(anterior, axis=1, keepdims=True)
    return arc, tangent, np.cross(anterior, tangent), anterior


def render_phantom(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    curve_mm: np.ndarray,
    radii_mm: tuple[float, float] = (5.0, 3.5),
    csf_mm: float = 2.5,
    cord_end_s_mm: tuple[float, float] | None = None,
    lesions: tuple[Lesion, ...] = (),
    noise: float = 0.02,
    seed: int = 0,
) -> CordPhantom:
    """Render a cord phantom on an RPI grid centred on the world origin.

    Parameters
    ----------
    shape : tuple of int
        Grid (X, Y, Z) voxels.
    spacing : tuple of float
        Voxel size (mm).
    curve_mm : ndarray, shape (M, 3)
        Dense true centerline (spacing <= 0.1 mm), inferior to superior, strictly increasing z, extending
        beyond the grid wherever the cord should reach the image edge.
    radii_mm : (float, float)
        Cord semi-axes (mm) along the right and anterior axes.
    csf_mm : float
        Thickness (mm) of the CSF ring around the cord.
    cord_end_s_mm : (float, float), optional
        Arc lengths (mm) between which the cord exists (the CSF tube runs the whole curve); default all.
    lesions : tuple of Lesion
        Lesions (clipped to the cord).
    noise : float
        Standard deviation of the Gaussian noise added to the image.
    seed : int
        Seed of the noise.
    """
    affine = rpi_affine(shape, spacing)
    arc, tangent, right, anterior = _frames(curve_mm)
    start, stop = cord_end_s_mm if cord_end_s_mm is not None else (arc[0], arc[-1])
    image = np.full(shape, BACKGROUND, dtype=np.float32)
    cord = np.zeros(shape, dtype=np.uint8)
    labels = np.zeros(shape, dtype=np.uint8)

    # Only voxels near the curve can be inside the CSF tube: a box around the curve on each slice.
    reach = max(radii_mm) + csf_mm + 2 * spacing[2]
    z_world = affine[2, 3] + spacing[2] * np.arange(shape[2])
    cross_x = np.interp(z_world, curve_mm[:, 2], curve_mm[:, 0])
    cross_y = np.interp(z_world, curve_mm[:, 2], curve_mm[:, 1])
    half = np.ceil(reach / np.array(spacing[:2])).astype(int)
    centre_i = np.round((cross_x - affine[0, 3]) / affine[0, 0]).astype(int)
    centre_j = np.round((cross_y - affine[1, 3]) / affine[1, 1]).astype(int)
    offsets_i, offsets_j = np.meshgrid(
        np.arange(-half[0], half[0] + 1), np.arange(-half[1], half[1] + 1), indexing="ij"
    )
    i = (centre_i[None, None, :] + offsets_i[..., None]).ravel()
    j = (centre_j[None, None, :] + offsets_j[..., None]).ravel()
    k = np.broadcast_to(np.arange(shape[2]), offsets_i.shape + (shape[2],)).ravel()
    keep = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    i, j, k = i[keep], j[keep], k[keep]
    points = np.column_stack([i, j, k, np.ones(i.size)]) @ affine[:3].T

    _, nearest = cKDTree(curve_mm).query(points)
    offset = points - curve_mm[nearest]
    s = arc[nearest] + np.sum(offset * tangent[nearest], axis=1)
    u = np.sum(offset * right[nearest], axis=1)
    v = np.sum(offset * anterior[nearest], axis=1)
    along = (nearest > 0) & (nearest < len(curve_mm) - 1)  # not past the ends of the curve
    in_csf = along & ((u / (radii_mm[0] + csf_mm)) ** 2 + (v / (radii_mm[1] + csf_mm)) ** 2 <= 1)
    in_cord = in_csf & ((u / radii_mm[0]) ** 2 + (v / radii_mm[1]) ** 2 <= 1) & (s >= start) & (s <= stop)
    image[i[in_csf], j[in_csf], k[in_csf]] = CSF
    image[i[in_cord], j[in_cord], k[in_cord]] = CORD
    cord[i[in_cord], j[in_cord], k[in_cord]] = 1
    for label, lesion in enumerate(lesions, start=1):
        inside = in_cord & (
            ((s - lesion.s) / lesion.radius_s) ** 2
            + ((u - lesion.u) / lesion.radius_u) ** 2
            + ((v - lesion.v) / lesion.radius_v) ** 2
            <= 1
        )
        image[i[inside], j[inside], k[inside]] = LESION
        labels[i[inside], j[inside], k[inside]] = label
    image += np.random.default_rng(seed).normal(0.0, noise, shape).astype(np.float32)
    return CordPhantom(
        image=nib.Nifti1Image(image, affine),
        cord=nib.Nifti1Image(cord, affine),
        lesions=nib.Nifti1Image(labels, affine),
        curve_mm=curve_mm,
    )


def whole_spine_phantom(lesions: tuple[Lesion, ...] = (), seed: int = 0) -> CordPhantom:
    """The benchmark phantom at true scale: 320 x 320 x 110 voxels of 0.5 x 0.5 x 4 mm (160 x 160 x 440 mm).

    An S-curved cord (A-P amplitude 15 mm over a 300 mm wavelength, 6 mm of L-R scoliosis) of 10 x 7 mm
    cross-section runs from the conus, 20 mm above the bottom of the image, through the top of the image;
    its arc length inside the image is about 440 mm.
    """
    curve = s_curve(np.arange(-240.0, 240.0, 0.05), amplitude_ap=15.0, amplitude_lr=6.0, wavelength_mm=300.0)
    arc = _frames(curve)[0]
    conus = float(np.interp(-200.0, curve[:, 2], arc))
    return render_phantom(
        (320, 320, 110), (0.5, 0.5, 4.0), curve, cord_end_s_mm=(conus, arc[-1]), lesions=lesions, seed=seed
    )
