"""What a stitch did: how the chunks meet (overlap or gap, in mm) and which output slices no chunk covers.

Computed from the geometry alone (affines and shapes), so a report is available without reading voxel data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sclesion.preprocessing.stitching.grid import MM_TOL, Footprint, OutputGrid, box_corners


@dataclass(frozen=True)
class Junction:
    """Where two chunks that follow each other along the stacking axis meet.

    Attributes
    ----------
    first, second : int
        0-based input indices of the chunks, ``first`` lower along the stacking axis.
    overlap_mm : float
        Length (mm) of the stretch both chunks cover, measured between voxel edges along the stacking axis;
        negative for a gap (nothing acquired in between).
    """

    first: int
    second: int
    overlap_mm: float

    @property
    def gap_mm(self) -> float:
        """Length (mm) of the gap between the chunks; 0 when they touch or overlap."""
        return -self.overlap_mm if self.overlap_mm < -MM_TOL else 0.0


@dataclass(frozen=True)
class StitchReport:
    """Geometry of a stitch: output grid, junctions between chunks, gaps.

    Attributes
    ----------
    shape : tuple of int
        Output shape (voxels along output axes 0, 1, 2).
    spacing : tuple of float
        Output voxel size (mm) per output axis.
    affine : numpy.ndarray
        Output 4x4 voxel-to-world matrix (mm).
    reference : int
        0-based index of the chunk whose rotation the output grid took.
    stacking_axis : int
        Output axis along which the chunks follow each other (their centres spread most along it).
    junctions : list of Junction
        One per consecutive pair of chunks along ``stacking_axis``.
    empty_slices : tuple of int
        Output slice indices along ``stacking_axis`` that no chunk covers (left empty, value 0).
    status : str
        What happened to the output file: ``written`` (new), ``rewritten`` (an output made from other chunks
        or options was replaced), ``up to date`` (the recorded inputs and options match; nothing written).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    affine: np.ndarray
    reference: int
    stacking_axis: int
    junctions: list[Junction] = field(default_factory=list)
    empty_slices: tuple[int, ...] = ()
    status: str = "written"

    @property
    def gaps(self) -> list[Junction]:
        """The junctions that leave a gap (``gap_mm > 0``)."""
        return [j for j in self.junctions if j.gap_mm > 0]

    def messages(self) -> list[str]:
        """One warning line per gap, e.g. ``"gap of 4.0 mm between chunk 2 and chunk 3 (1 empty slice left)"``.

        Chunks are numbered from 1 in input order.
        """
        lines = []
        for j in self.gaps:
            lines.append(f"gap of {j.gap_mm:.1f} mm between chunk {j.first + 1} and chunk {j.second + 1}")
        if lines and self.empty_slices:
            n = len(self.empty_slices)
            lines[-1] += f" ({n} empty slice{'s' if n != 1 else ''} left along output axis {self.stacking_axis})"
        return lines

    def table(self):
        """Junctions as a pandas DataFrame: chunk numbers (1-based, input order), overlap and gap in mm."""
        import pandas as pd

        rows = [
            {"first chunk": j.first + 1, "second chunk": j.second + 1, "overlap (mm)": round(max(j.overlap_mm, 0.0), 3),
             "gap (mm)": round(j.gap_mm, 3)}
            for j in self.junctions
        ]
        return pd.DataFrame(rows, columns=["first chunk", "second chunk", "overlap (mm)", "gap (mm)"])


def make_report(
    grid: OutputGrid, footprints: list[Footprint], affines: list[np.ndarray], shapes: list[tuple[int, ...]]
) -> StitchReport:
    """Build the :class:`StitchReport` of chunks (``affines``, ``shapes``) placed on ``grid``."""
    rotation = grid.affine[:3, :3] / grid.spacing
    edges = [box_corners(a, s, edges=True) @ rotation for a, s in zip(affines, shapes)]  # grid-frame mm
    centres = np.array([e.mean(axis=0) for e in edges])
    spread = np.ptp(centres, axis=0)
    axis = int(np.argmax(spread)) if spread.max() > MM_TOL else int(np.argmax(grid.shape * grid.spacing))
    intervals = sorted((float(e[:, axis].min()), float(e[:, axis].max()), k) for k, e in enumerate(edges))
    junctions = []
    reach, reach_chunk = intervals[0][1], intervals[0][2]
    for start, end, k in intervals[1:]:
        junctions.append(Junction(first=reach_chunk, second=k, overlap_mm=min(reach, end) - start))
        if end > reach:
            reach, reach_chunk = end, k
    covered = np.zeros(grid.shape[axis], dtype=bool)
    for fp in footprints:
        covered[fp.box[axis]] = True
    return StitchReport(
        shape=grid.shape,
        spacing=tuple(float(s) for s in grid.spacing),
        affine=grid.affine.copy(),
        reference=grid.reference,
        stacking_axis=axis,
        junctions=junctions,
        empty_slices=tuple(int(i) for i in np.flatnonzero(~covered)),
    )
