"""Rendering a session model on a voxel grid, with partial volume; scanner effects (bias field, Rician noise).

Partial volume: each voxel is sampled at ``n = ceil(spacing / fine_mm)`` evenly spaced points along its
longest voxel axis (the slice axis of an axial chunk: thick slices get several sub-slices) and at its centre
along the other axes; the tissue of every sample is classified, and the voxel gets the mean signal and the
fractions of its samples in cord and in lesion. Masks are those fractions thresholded at 0.5
(``cord = cord >= 0.5 OR lesion``), plus one rule so that no lesion whose centre lies in the grid disappears:
its best-covered voxel (or, if no sample hit it, the voxel holding its centre) is always in the lesion mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sclesion.data.synthetic import portable
from sclesion.data.synthetic.model import CORD, LESION, SessionModel, classify, level_table

#: Default sampling step (mm) for partial volume along the longest voxel axis.
FINE_MM = 1.25

#: Upper bound on the number of sample points classified at once (small blocks stay in cache).
BLOCK_POINTS = 200_000


@dataclass
class Rendered:
    """Noise-free rendering on a grid (arrays in the grid's voxel order).

    Attributes
    ----------
    image : ndarray of float32
        Mean signal per voxel, in the model's scanner units (contrast x gain), no bias, no noise.
    cord : ndarray of uint8
        Cord mask {0, 1} (cord fraction >= 0.5, or lesion).
    lesion : ndarray of uint8
        Lesion mask {0, 1}, a subset of ``cord``.
    """

    image: np.ndarray
    cord: np.ndarray
    lesion: np.ndarray


def voxel_spacing(affine: np.ndarray) -> np.ndarray:
    """Voxel size (mm) along each voxel axis: the column norms of the affine's 3x3 part."""
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))


def _sub_offsets(affine: np.ndarray, fine_mm: float) -> np.ndarray:
    """Scanner offsets (mm, float32, shape (S, 3)) of the samples from their voxel's centre: evenly spaced
    along the longest voxel axis."""
    axis = int(np.argmax(voxel_spacing(affine)))
    n = max(1, int(np.ceil(voxel_spacing(affine)[axis] / fine_mm - 1e-6)))
    fractions = (np.arange(n) + 0.5) / n - 0.5
    return (fractions[:, None] * affine[None, :3, axis]).astype(np.float32)


def render_grid(model: SessionModel, affine: np.ndarray, shape: tuple[int, int, int],
                fine_mm: float = FINE_MM) -> Rendered:
    """Render a session model on the grid ``(affine, shape)``.

    Parameters
    ----------
    model : SessionModel
    affine : ndarray, shape (4, 4)
        Voxel -> scanner RAS+ mm.
    shape : tuple of 3 int
        Grid shape (voxels).
    fine_mm : float
        Partial-volume sampling step in mm (see module docstring).

    Returns
    -------
    Rendered
    """
    affine = np.asarray(affine, dtype=np.float64)
    shape = tuple(int(n) for n in shape)
    offsets = _sub_offsets(affine, fine_mm)
    n_sub = len(offsets)
    table = level_table(model.anatomy)
    lut = model.intensity_lut() * np.float32(model.gain)
    image = np.zeros(shape, dtype=np.float32)
    cord_count = np.zeros(shape, dtype=np.int16)
    lesion_count = np.zeros(shape, dtype=np.int16)
    best: dict[int, tuple[int, float]] = {}  # lesion id -> (flat voxel index, fraction of its samples there)
    slices_per_block = max(1, BLOCK_POINTS // max(1, shape[0] * shape[1] * n_sub))
    for k0 in range(0, shape[2], slices_per_block):
        k1 = min(shape[2], k0 + slices_per_block)
        x, y, z = _block_points(affine, offsets, shape, k0, k1)
        tissue, lesion_id = classify(model, x, y, z, table)
        tissue = tissue.reshape(n_sub, shape[0], shape[1], k1 - k0)
        image[:, :, k0:k1] = lut[tissue].mean(axis=0)
        cord_count[:, :, k0:k1] = (tissue >= CORD).sum(axis=0, dtype=np.int16)
        lesion_count[:, :, k0:k1] = (tissue == LESION).sum(axis=0, dtype=np.int16)
        _update_best(best, lesion_id.reshape(n_sub, -1), n_sub, k0, k1, shape)
    lesion = 2 * lesion_count >= n_sub
    _keep_every_lesion(model, affine, shape, lesion, best)
    cord = (2 * cord_count >= n_sub) | lesion
    return Rendered(image=image, cord=cord.astype(np.uint8), lesion=lesion.astype(np.uint8))


def _block_points(affine, offsets, shape, k0, k1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scanner x, y, z (float32, flat) of every sample of slices ``k0:k1``, ordered (sample, i, j, k)."""
    i = np.arange(shape[0], dtype=np.float64)
    j = np.arange(shape[1], dtype=np.float64)
    k = np.arange(k0, k1, dtype=np.float64)
    coords = []
    for c in range(3):
        along_i = (affine[c, 0] * i).astype(np.float32)[None, :, None, None]
        along_j = (affine[c, 1] * j).astype(np.float32)[None, None, :, None]
        along_k = (affine[c, 2] * k + affine[c, 3]).astype(np.float32)[None, None, None, :]
        coords.append((offsets[:, c, None, None, None] + along_k + along_j + along_i).reshape(-1))
    return coords[0], coords[1], coords[2]


def _update_best(best, lesion_id, n_sub, k0, k1, shape):
    """Track, per lesion, the voxel with the largest fraction of its samples (flat index into ``shape``).

    ``lesion_id`` has shape (samples, voxels of the block), block voxels in C order of (i, j, k - k0).
    """
    sub, voxel = np.nonzero(lesion_id)
    if voxel.size == 0:
        return
    key = voxel.astype(np.int64) * 65536 + lesion_id[sub, voxel].astype(np.int64)
    keys, counts = np.unique(key, return_counts=True)
    i, j, k = np.unravel_index(keys // 65536, (shape[0], shape[1], k1 - k0))
    flat = np.ravel_multi_index((i, j, k + k0), shape)
    for lid, f, c in zip((keys % 65536).tolist(), flat.tolist(), counts.tolist()):
        fraction = c / n_sub
        if lid not in best or fraction > best[lid][1]:
            best[lid] = (f, fraction)


def _keep_every_lesion(model, affine, shape, lesion_mask, best) -> None:
    """Make sure every lesion whose centre lies in the grid has a voxel in the mask: its best-covered voxel,
    or the voxel holding its centre if no sample hit it."""
    inverse = np.linalg.inv(affine)
    flat_mask = lesion_mask.reshape(-1)
    for lesion in model.lesions:
        centre = model.lesion_centre(lesion)
        index = inverse[:3, :3] @ centre + inverse[:3, 3]
        if np.any(index < -0.5) or np.any(index > np.array(shape) - 0.5):
            continue
        if lesion.lesion_id in best:
            flat, _ = best[lesion.lesion_id]
        else:
            flat = int(np.ravel_multi_index(tuple(np.clip(np.rint(index).astype(int), 0,
                                                          np.array(shape) - 1)), shape))
        flat_mask[flat] = True


def bias_field(affine: np.ndarray, shape: tuple[int, int, int], amplitude: float,
               wavelengths_mm: np.ndarray, directions: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Smooth multiplicative bias field on a grid, ``1 + amplitude * mean_k cos(2 pi d_k . (x - c) / l_k + p_k)``.

    ``x`` is the scanner position (mm) of a voxel centre and ``c`` the grid's centre; the field lies in
    ``[1 - amplitude, 1 + amplitude]``.

    Parameters
    ----------
    affine, shape : the grid (voxel -> scanner mm).
    amplitude : float
        Relative amplitude (0.2 gives +-20 % at most).
    wavelengths_mm : ndarray, shape (K,)
    directions : ndarray, shape (K, 3)
        Unit vectors.
    phases : ndarray, shape (K,)
        Radians.

    Returns
    -------
    ndarray of float32, ``shape``
    """
    linear = np.asarray(affine, dtype=np.float64)[:3, :3]
    centre = (np.asarray(shape) - 1) / 2.0
    total = np.zeros(shape, dtype=np.float64)
    for wavelength, direction, phase in zip(wavelengths_mm, directions, phases):
        # the phase d . A (ijk - centre) is a sum of three 1-d ramps; cos of a sum by the addition theorem,
        # so that only 1-d arrays need cos/sin (see portable.py) and the volume needs products and sums
        slope = 2 * np.pi * (direction[:, None] * linear).sum(axis=0) / wavelength
        ramps = [slope[n] * (np.arange(shape[n]) - centre[n]) for n in range(3)]
        ramps[0] = ramps[0] + phase
        c = [portable.cos(r) for r in ramps]
        s = [portable.sin(r) for r in ramps]
        ci, si = c[0][:, None, None], s[0][:, None, None]
        cj, sj = c[1][None, :, None], s[1][None, :, None]
        ck, sk = c[2][None, None, :], s[2][None, None, :]
        total += (ci * cj - si * sj) * ck - (si * cj + ci * sj) * sk
    return (1.0 + amplitude / len(phases) * total).astype(np.float32)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of std ``sigma`` (same units): Rician noise."""
    real = image + rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag).astype(np.float32)
