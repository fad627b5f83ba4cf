"""Geometry of stitching: the output grid that holds every chunk, and where each chunk lands in it.

Conventions
-----------
An affine ``A`` (4x4) maps voxel indices ``(i, j, k)`` of an array indexed ``[i, j, k]`` to world (scanner
RAS+) coordinates in mm. A voxel *centre* has integer indices; a chunk of shape ``(n0, n1, n2)`` covers the
index box ``[-0.5, n - 0.5]`` per axis (voxel edges). "Output" means the stitched grid.

The grid follows Graf et al. (2024), without the off-by-one of ``TPTBox.stitching``:

1. the corners of every chunk are mapped to world space;
2. each chunk's rotation (its direction matrix) is tried, and the one whose axis-aligned box around all
   corners (voxel edges) is smallest wins, the first chunk winning ties;
3. the output spacing is, per output axis, the smallest voxel size of the inputs along that axis;
4. the output grid lies on the voxel lattice of the chunk whose rotation it took (the *reference* chunk, at
   the output spacing), from the lattice point nearest to the lowest input voxel *centre* to the one nearest
   to the highest. When the chunks share that lattice (same orientation, spacing and whole-voxel offsets)
   the first and last input slices are exactly the first and last output slices; otherwise every input
   voxel centre lies within half an output voxel of the grid's extent. The reference chunk itself is
   never interpolated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: Corners of the unit cube, one row per corner (8 x 3), used to build a box's 8 corners.
_CUBE = np.array(list(itertools.product((0.0, 1.0), repeat=3)))

#: Tolerance, in voxels, when deciding whether a point lies inside a chunk or on a grid node.
VOXEL_TOL: float = 1e-4

#: Tolerance, in mm, below which two chunks count as touching (neither overlapping nor leaving a gap).
MM_TOL: float = 1e-3


@dataclass(frozen=True)
class OutputGrid:
    """The stitched image's voxel grid.

    Attributes
    ----------
    affine : numpy.ndarray
        4x4 voxel-to-world matrix (mm); its rotation is one chunk's (see ``reference``).
    shape : tuple of int
        Number of voxels along output axes 0, 1, 2.
    spacing : numpy.ndarray
        Voxel size in mm along output axes 0, 1, 2.
    reference : int
        Index (0-based, input order) of the chunk whose rotation the grid took.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    spacing: np.ndarray
    reference: int


@dataclass(frozen=True)
class Footprint:
    """Where one chunk lands in the output grid.

    Attributes
    ----------
    box : tuple of slice
        Output index ranges (one slice per output axis) holding every output voxel centre that lies inside
        the chunk's voxel-edge box. Empty slices mean the chunk covers no output voxel centre.
    to_chunk : numpy.ndarray
        4x4 matrix mapping output voxel indices to (fractional) chunk voxel indices.
    axis_map : tuple of int or None
        For a chunk whose axes are parallel to the output axes (flips and permutations allowed),
        ``axis_map[i]`` is the chunk axis that runs along output axis ``i``; None for an oblique chunk.
    """

    box: tuple[slice, slice, slice]
    to_chunk: np.ndarray
    axis_map: tuple[int, int, int] | None

    @property
    def box_shape(self) -> tuple[int, int, int]:
        """Number of output voxels of ``box`` along each output axis."""
        return tuple(max(0, s.stop - s.start) for s in self.box)

    @property
    def is_empty(self) -> bool:
        """True when the chunk covers no output voxel centre."""
        return 0 in self.box_shape


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths (mm) along voxel axes 0, 1, 2: the column norms of the affine's 3x3 part."""
    return np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))


def direction(affine: np.ndarray) -> np.ndarray:
    """The chunk's rotation: 3x3 orthonormal matrix whose column ``j`` is the world direction of voxel axis ``j``.

    The columns of the affine are normalised, then the nearest orthonormal matrix is taken (polar
    decomposition), which removes the rounding noise of headers stored in float32.
    """
    columns = np.asarray(affine, dtype=float)[:3, :3] / voxel_sizes(affine)
    u, _, vt = np.linalg.svd(columns)
    return u @ vt


def box_corners(affine: np.ndarray, shape: tuple[int, ...], edges: bool) -> np.ndarray:
    """World coordinates (mm) of the 8 corners of a chunk, shape ``(8, 3)``.

    Parameters
    ----------
    affine : numpy.ndarray
        4x4 voxel-to-world matrix.
    shape : tuple of int
        Array shape (first three axes used).
    edges : bool
        True: corners of the voxel-edge box (indices -0.5 and n - 0.5). False: the outermost voxel centres
        (indices 0 and n - 1).
    """
    n = np.asarray(shape[:3], dtype=float)
    low, high = (-0.5, n - 0.5) if edges else (0.0, n - 1.0)
    index = low + _CUBE * (high - low)
    return index @ np.asarray(affine, dtype=float)[:3, :3].T + np.asarray(affine, dtype=float)[:3, 3]


def choose_rotation(affines: list[np.ndarray], shapes: list[tuple[int, ...]]) -> int:
    """Index of the chunk whose rotation gives the smallest axis-aligned box (mm^3) around all chunks.

    Boxes are taken around the voxel-edge corners of every chunk. Flips and axis permutations of one
    rotation give the same volume, so the first chunk (input order) wins ties (relative tolerance 1e-9).
    """
    corners = np.concatenate([box_corners(a, s, edges=True) for a, s in zip(affines, shapes)])
    best, best_volume = 0, np.inf
    for index, affine in enumerate(affines):
        rotated = corners @ direction(affine)  # row r = R^T p_r: coordinates along the chunk's axes
        volume = float(np.prod(np.ptp(rotated, axis=0)))
        if volume < best_volume * (1.0 - 1e-9):
            best, best_volume = index, volume
    return best


def chunk_axis_along(rotation: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """For each output axis (column of ``rotation``), the voxel axis of ``affine`` most parallel to it."""
    cosines = np.abs(rotation.T @ direction(affine))  # [output axis, chunk axis]
    return np.argmax(cosines, axis=1)


def plan_grid(affines: list[np.ndarray], shapes: list[tuple[int, ...]]) -> OutputGrid:
    """Build the output grid covering exactly the union of the chunks (see the module docstring).

    Parameters
    ----------
    affines : list of numpy.ndarray
        4x4 voxel-to-world matrices of the chunks (mm).
    shapes : list of tuple of int
        Their array shapes.

    Returns
    -------
    OutputGrid
        On the reference chunk's lattice; first and last voxel centres within half an output voxel of the
        lowest and highest chunk voxel centres along every output axis (exactly on them when the chunks
        share the lattice).
    """
    reference = choose_rotation(affines, shapes)
    rotation = direction(affines[reference])
    spacing = np.full(3, np.inf)
    for affine in affines:
        sizes = voxel_sizes(affine)[chunk_axis_along(rotation, affine)]
        spacing = np.minimum(spacing, sizes)
    spacing = np.round(spacing, 6)  # float32 headers store 0.5 as 0.50000001
    centres = np.concatenate([box_corners(a, s, edges=False) for a, s in zip(affines, shapes)]) @ rotation
    # Snap both ends to the reference chunk's lattice (its voxel centres, at the output spacing), so that the
    # reference chunk is copied, not interpolated; chunks that share that lattice are covered exactly.
    anchor = np.asarray(affines[reference], dtype=float)[:3, 3] @ rotation
    low = anchor + _nearest_step(centres.min(axis=0) - anchor, spacing) * spacing
    high = anchor + _nearest_step(centres.max(axis=0) - anchor, spacing) * spacing
    counts = np.rint((high - low) / spacing).astype(int) + 1
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    affine[:3, 3] = rotation @ low
    return OutputGrid(affine=affine, shape=tuple(int(c) for c in counts), spacing=spacing, reference=reference)


def _nearest_step(distance_mm: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Whole number of voxels nearest to ``distance_mm / spacing`` (halves round up)."""
    return np.floor(distance_mm / spacing + 0.5 + VOXEL_TOL)


def footprint(grid: OutputGrid, affine: np.ndarray, shape: tuple[int, ...]) -> Footprint:
    """Where a chunk lands in ``grid``: its output index box, index mapping and (if any) axis correspondence.

    A chunk counts as axis-parallel when ignoring the off-axis terms of its output-to-chunk mapping moves no
    output voxel by more than :data:`VOXEL_TOL` chunk voxels; resampling then separates per axis.
    """
    to_chunk = np.linalg.inv(np.asarray(affine, dtype=float)) @ grid.affine
    matrix = to_chunk[:3, :3]
    axis_map = _axis_map(matrix, max(grid.shape))
    # Output-index box of the chunk's voxel-edge box (exact for axis-parallel chunks, a bound otherwise).
    n = np.asarray(shape[:3], dtype=float)
    chunk_corners = -0.5 + _CUBE * n
    to_output = np.linalg.inv(to_chunk)
    out_corners = chunk_corners @ to_output[:3, :3].T + to_output[:3, 3]
    low = np.ceil(out_corners.min(axis=0) - VOXEL_TOL).astype(int)
    high = np.floor(out_corners.max(axis=0) + VOXEL_TOL).astype(int)
    low = np.clip(low, 0, np.asarray(grid.shape))
    high = np.clip(high + 1, 0, np.asarray(grid.shape))
    box = tuple(slice(int(lo), int(max(lo, hi))) for lo, hi in zip(low, high))
    return Footprint(box=box, to_chunk=to_chunk, axis_map=axis_map)


def _axis_map(matrix: np.ndarray, grid_size: int) -> tuple[int, int, int] | None:
    """Chunk axis along each output axis if ``matrix`` (output -> chunk indices) is a scaled permutation."""
    magnitude = np.abs(matrix)
    rows = np.argmax(magnitude, axis=0)  # for each output axis (column), the chunk axis it drives
    if len(set(rows.tolist())) != 3:
        return None
    off_axis = magnitude.copy()
    off_axis[rows, np.arange(3)] = 0.0
    if off_axis.max() * grid_size > VOXEL_TOL:
        return None
    return tuple(int(r) for r in rows)
