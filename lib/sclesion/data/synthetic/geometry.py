"""Acquisition geometry: where each axial chunk lies in scanner space, and the ground-truth reference grid.

A chunk is a stack of axial slices (voxel axis 2 is the slice axis) covering a slab of the spine. Chunks of
one session overlap by a few slices, each has its own affine (voxel -> scanner RAS+ mm) with a small,
deterministic obliquity, and the voxel axes follow the site's stored orientation (nibabel axcodes, e.g.
``("L", "A", "S")``, which SCT calls RPI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sclesion.core.conventions import RPI
from sclesion.data.synthetic.model import SessionModel

#: Coverage name -> (chunk number, nominal top a_norm mm, nominal bottom a_norm mm). Chunks are numbered
#: cranio-caudally: 1 cervical (or cervico-thoracic), 2 thoracic, 3 lumbar (thoraco-lumbar, down past the conus).
COVERAGE: dict[str, tuple[int, float, float]] = {
    "cervical": (1, 25.0, -160.0),
    "cervicothoracic": (1, 25.0, -250.0),
    "thoracic": (2, -148.0, -335.0),
    "lumbar": (3, -323.0, -510.0),
}

#: Distance (mm) kept between the centerline and the posterior edge of a chunk's FOV when shifting it anteriorly.
FOV_MARGIN_MM = 14.0

#: Cranio-caudal extent of the ground-truth reference grid (nominal a_norm mm): brainstem to below the conus.
TRUTH_RANGE = (35.0, -520.0)

_AXES = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``affine`` (4x4, voxel -> scanner RAS+ mm) and ``shape`` (3 ints)."""

    affine: np.ndarray
    shape: tuple[int, int, int]


@dataclass(frozen=True)
class Chunk:
    """One planned chunk: its number (1 cervical, 2 thoracic, 3 lumbar) and grid."""

    chunk: int
    grid: Grid


def orientation_matrix(codes) -> np.ndarray:
    """3x3 matrix whose column ``k`` is the scanner direction of increasing voxel index ``k``.

    ``codes`` are nibabel axcodes such as ``("L", "P", "S")``; every scanner axis must appear once.
    """
    matrix = np.zeros((3, 3))
    for k, code in enumerate(codes):
        axis, sign = _AXES[code]
        matrix[axis, k] = sign
    if sorted(_AXES[c][0] for c in codes) != [0, 1, 2]:
        raise ValueError(f"orientation {codes} does not name each of R/L, A/P, S/I once")
    return matrix


def tilt(sagittal_deg: float, coronal_deg: float) -> np.ndarray:
    """Rotation (3x3) about the left-right axis by ``sagittal_deg``, then about the A-P axis by ``coronal_deg``."""
    s, c = math.sin(math.radians(sagittal_deg)), math.cos(math.radians(sagittal_deg))
    rx = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    s, c = math.sin(math.radians(coronal_deg)), math.cos(math.radians(coronal_deg))
    ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return rx @ ry


def grid_around(centre: np.ndarray, rotation: np.ndarray, codes, spacing, shape) -> Grid:
    """Grid of ``shape`` voxels of ``spacing`` mm, axes ``codes`` rotated by ``rotation``, centred on ``centre``."""
    linear = rotation @ orientation_matrix(codes) @ np.diag(np.asarray(spacing, dtype=np.float64))
    affine = np.eye(4)
    affine[:3, :3] = linear
    half = (np.asarray(shape) - 1) / 2.0
    # written out rather than `linear @ half`, whose BLAS kernel (FMA or not) depends on the CPU
    affine[:3, 3] = np.asarray(centre) - (linear * half[None, :]).sum(axis=1)
    return Grid(affine=affine, shape=tuple(int(n) for n in shape))


def plan_chunks(model: SessionModel, coverage: list[str], acquisition: dict, inplane_mm: float,
                slice_mm: float, rng: np.random.Generator) -> list[Chunk]:
    """Place a session's chunks.

    The first chunk's borders are the nominal ones (scaled to the subject's length) plus jitter; every next
    chunk starts ``overlap_slices`` slices above the previous chunk's bottom. Each chunk's in-plane FOV is
    centred on the canal's mid position over the slab, shifted anteriorly by ``anterior_shift_mm`` (less where the
    cord's sagittal excursion over the slab would otherwise bring the canal within :data:`FOV_MARGIN_MM` of the
    posterior edge).

    With ``composed_stations`` (a multi-station whole-spine protocol planned for composing, as at the TUM-like
    site), the chunks of a session share one tilt and their voxel centres lie on one common lattice: the
    table moves, the in-plane geometry stays. Otherwise each chunk has its own tilt and free position.

    Parameters
    ----------
    model : SessionModel
    coverage : list of str
        Keys of :data:`COVERAGE`, cranio-caudal.
    acquisition : dict
        The site's ``acquisition`` block.
    inplane_mm, slice_mm : float
        This session's pixel size and slice thickness.
    rng : numpy Generator

    Returns
    -------
    list of Chunk
    """
    scale = model.anatomy.scale
    tx, ty, tz = model.offset_mm
    jitter = float(acquisition["slab_jitter_mm"])
    low, high = acquisition["overlap_slices"]
    n_inplane = int(round(acquisition["fov_mm"] / inplane_mm))
    max_tilt = float(acquisition["max_oblique_deg"])
    composed = bool(acquisition["composed_stations"])
    session_rotation = (tilt(rng.uniform(-max_tilt, max_tilt), rng.uniform(-max_tilt / 3, max_tilt / 3))
                        if composed else None)
    chunks = []
    previous_bottom = None
    for name in coverage:
        number, top_nominal, bottom_nominal = COVERAGE[name]
        if previous_bottom is None:
            top = top_nominal * scale + rng.uniform(-jitter, jitter)
        else:
            top = previous_bottom + int(rng.integers(low, high + 1)) * slice_mm
        bottom = bottom_nominal * scale + rng.uniform(-jitter, jitter)
        n_slices = max(1, int(round((top - bottom) / slice_mm)))
        bottom = top - n_slices * slice_mm
        previous_bottom = bottom
        cx, cy = model.anatomy.centerline_offset(np.linspace(bottom, top, 65))
        room = 0.5 * (n_inplane * inplane_mm - (cy.max() - cy.min())) - FOV_MARGIN_MM
        shift = float(np.clip(acquisition["anterior_shift_mm"], 0.0, max(room, 0.0)))
        centre = np.array([
            tx + 0.5 * (cx.min() + cx.max()),
            ty + 0.5 * (cy.min() + cy.max()) + shift,
            tz + 0.5 * (top + bottom),
        ])
        rotation = session_rotation if composed else tilt(rng.uniform(-max_tilt, max_tilt),
                                                          rng.uniform(-max_tilt / 3, max_tilt / 3))
        grid = grid_around(centre, rotation, acquisition["orientation"], (inplane_mm, inplane_mm, slice_mm),
                           (n_inplane, n_inplane, n_slices))
        if composed and chunks:
            grid = on_lattice_of(grid, chunks[0].grid)
        chunks.append(Chunk(chunk=number, grid=grid))
    return chunks


def on_lattice_of(grid: Grid, reference: Grid) -> Grid:
    """Move ``grid`` by less than half a voxel per axis so that its voxel centres lie on ``reference``'s lattice.

    Both grids must share the same voxel axes (direction and spacing).
    """
    linear = reference.affine[:3, :3]
    offset = np.linalg.solve(linear, grid.affine[:3, 3] - reference.affine[:3, 3])
    affine = grid.affine.copy()
    # written out rather than `linear @ ...`, whose BLAS kernel (FMA or not) depends on the CPU
    affine[:3, 3] = reference.affine[:3, 3] + (linear * np.round(offset)[None, :]).sum(axis=1)
    return Grid(affine=affine, shape=grid.shape)


def truth_grid(model: SessionModel, truth: dict) -> Grid:
    """The ground-truth reference grid of a session: axis-aligned, RPI (axcodes L, A, S), covering the whole
    spine (:data:`TRUTH_RANGE`) and the centerline's in-plane bounding box plus ``truth["margin_mm"]``.

    Voxel size is ``truth["inplane_mm"]`` in-plane and ``truth["slice_mm"]`` cranio-caudally.
    """
    scale = model.anatomy.scale
    top, bottom = TRUTH_RANGE[0] * scale, TRUTH_RANGE[1] * scale
    path = model.centerline(np.linspace(bottom, top, 512))
    margin = float(truth["margin_mm"])
    low = path.min(axis=0) - np.array([margin, margin, 0.0])
    high = path.max(axis=0) + np.array([margin, margin, 0.0])
    spacing = np.array([truth["inplane_mm"], truth["inplane_mm"], truth["slice_mm"]], dtype=np.float64)
    shape = np.ceil((high - low) / spacing).astype(int) + 1
    centre = 0.5 * (low + high)
    return grid_around(centre, np.eye(3), RPI, spacing, shape)
