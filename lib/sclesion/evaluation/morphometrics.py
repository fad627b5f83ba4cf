"""Lesion morphometrics per lesion, as Spinal Cord Toolbox's ``sct_analyze_lesion`` defines them (book/methods.md,
"Lesion morphometrics").

Both masks are reoriented to RPI first (flips and permutations only), so axis 2 runs inferior -> superior and
an *axial slice* is a plane ``k = const`` (for the study's axial acquisitions, an acquired slice). Voxel sizes
``(px, py, pz)`` are in mm along R-L, P-A, I-S.

Measures of a lesion (one connected component of the lesion mask)
-----------------------------------------------------------------
Cord angle
    The cord centerline is the centroid (mm) of the cord on each of its axial slices, smoothed by a
    polynomial fit of degree ``min(3, slices - 1)`` to x(z) and y(z). On slice z its tangent
    ``t = (dx/dz, dy/dz, 1)`` makes the angle ``angle_3d = arccos(1 / |t|)`` with the S-I axis (the slice
    normal). Lesion slices beyond the cord's ends take the angle of the nearest cord slice; without a cord
    every angle is 0.
``volume_mm3``
    voxels x voxel volume (``px py pz``).
``length_mm``
    S-I length corrected for the cord's angle: the sum over the lesion's axial slices of ``pz / cos(angle_3d)``.
``max_equivalent_diameter_mm``
    ``2 sqrt(max_z(area_z cos(angle_3d)) / pi)``, ``area_z`` the lesion's area on slice z (mm^2): the diameter
    of a disc with the lesion's largest cross-section perpendicular to the cord.
``max_axial_damage_ratio``
    The largest ratio, over the lesion's slices, of its area to the cord's area on that slice (the cord mask
    includes the lesion); NaN where no slice of the lesion has cord.
``centroid_x_mm``, ``centroid_y_mm``, ``centroid_z_mm``
    Centre of the lesion's voxels in scanner (RAS+) coordinates, mm.
``chunk``, ``region``
    The chunk the image is (1 cervical, 2 thoracic, 3 lumbar; from the file name's ``chunk`` entity), NA
    for a whole-spine image.

Not computed: the width and the tissue bridges of ``sct_analyze_lesion`` (they need the midsagittal slice
of a straightened cord) and the distribution per vertebral level (it needs a registered template).

Lesion identity and connectivity
--------------------------------
Lesions are numbered ``1..n`` in raster order by :func:`sclesion.evaluation.lesions.label_lesions` (the
study's one definition of a lesion), with the neighbourhood passed explicitly: ``connectivity=6`` (faces;
``generate_binary_structure(3, 1)``), 18 (faces and edges;
``generate_binary_structure(3, 2)``) or 26. SCT labels by 18-connectivity; the study's metrics and detection
count lesions by 6-connectivity, and so do the ``sclesion segment`` and ``sclesion lesions`` defaults, so that
a lesion of this table is a lesion of the evaluation chapters (two lesions touching only along an edge count
as two, as in the paper's lesion-wise scores). Pass 18 to number lesions as SCT does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from sclesion.core.errors import InputError
from sclesion.core.nifti import affines_match, load_mask, to_rpi, voxel_sizes
from sclesion.data.bids import parse_entities
from sclesion.evaluation.lesions import label_lesions

#: Region of each chunk (book/methods.md, "Data layout and labels": chunks numbered 1-3 cranio-caudally).
REGIONS: dict[int, str] = {1: "cervical", 2: "thoracic", 3: "lumbar"}
#: Columns of :func:`lesion_table`.
LESION_COLUMNS: list[str] = [
    "lesion_id", "volume_mm3", "length_mm", "max_equivalent_diameter_mm", "max_axial_damage_ratio",
    "centroid_x_mm", "centroid_y_mm", "centroid_z_mm", "n_voxels", "chunk", "region",
]
#: Columns of :func:`image_summary`.
SUMMARY_COLUMNS: list[str] = ["n_lesions", "total_lesion_volume_mm3", "cord_volume_mm3", "chunk", "region"]
def cord_angles(cord: np.ndarray, zooms: np.ndarray) -> np.ndarray:
    """Angle (radians) between the smoothed cord centerline and the S-I axis on every axial slice.

    Parameters
    ----------
    cord : numpy.ndarray
        Binary cord mask, RPI axis order ``(X, Y, Z)``.
    zooms : numpy.ndarray
        Voxel sizes (mm), RPI order.

    Returns
    -------
    numpy.ndarray
        Shape ``(Z,)``; slices outside the cord's extent take the nearest cord slice's angle; all 0 without cord.
    """
    nz = cord.shape[2]
    slices = np.flatnonzero(np.asarray(cord).reshape(-1, nz).any(axis=0))
    if len(slices) < 2:
        return np.zeros(nz)
    centres = np.array([ndimage.center_of_mass(cord[:, :, z] > 0) for z in slices]) * zooms[:2]
    z_mm = slices * zooms[2]
    degree = min(3, len(slices) - 1)
    dx = np.polyder(np.polyfit(z_mm, centres[:, 0], degree))
    dy = np.polyder(np.polyfit(z_mm, centres[:, 1], degree))
    z_eval = np.clip(np.arange(nz), slices[0], slices[-1]) * zooms[2]
    slope = np.hypot(np.polyval(dx, z_eval), np.polyval(dy, z_eval))
    return np.arctan(slope)  # arccos(1 / |(dx, dy, 1)|)


def _chunk_of(chunk: int | None) -> tuple[object, object]:
    if chunk is None or pd.isna(chunk):
        return pd.NA, pd.NA
    return int(chunk), REGIONS.get(int(chunk), pd.NA)


def lesion_table(lesion: np.ndarray, cord: np.ndarray, affine: np.ndarray, connectivity: int,
                 chunk: int | None = None) -> pd.DataFrame:
    """Morphometrics of every lesion of a mask (module docstring), one row per lesion.

    Parameters
    ----------
    lesion, cord : numpy.ndarray
        Binary masks on one grid, shape ``(X, Y, Z)``, any orientation.
    affine : numpy.ndarray
        Their 4x4 voxel-to-world matrix (mm).
    connectivity : int
        6, 18 or 26: the neighbourhood that joins voxels into one lesion (module docstring).
    chunk : int, optional
        The image's chunk (1-3), for the ``chunk`` and ``region`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LESION_COLUMNS`; lengths and diameters in mm, volumes in mm^3, centroids in scanner mm.
    """
    if np.shape(lesion) != np.shape(cord):
        raise InputError(f"lesion mask {np.shape(lesion)} and cord mask {np.shape(cord)} differ in shape")
    lesion_rpi, rpi_affine = to_rpi(np.asarray(lesion) > 0, affine)
    cord_rpi, _ = to_rpi(np.asarray(cord) > 0, affine)
    zooms = voxel_sizes(rpi_affine)
    pixel_mm2, voxel_mm3 = zooms[0] * zooms[1], float(np.prod(zooms))
    angles = cord_angles(cord_rpi, zooms)
    cord_area = cord_rpi.sum(axis=(0, 1)) * pixel_mm2
    labels, n = label_lesions(lesion_rpi, connectivity)
    chunk_value, region = _chunk_of(chunk)
    rows = []
    for lesion_id, box in enumerate(ndimage.find_objects(labels), start=1):
        part = labels[box] == lesion_id
        z = np.arange(box[2].start, box[2].stop)
        area = part.sum(axis=(0, 1)) * pixel_mm2
        present = area > 0
        cos = np.cos(angles[z])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cord_area[z] > 0, area / cord_area[z], np.nan)
        voxels = np.argwhere(part) + [s.start for s in box]
        centre = rpi_affine @ np.append(voxels.mean(axis=0), 1.0)
        rows.append({
            "lesion_id": lesion_id, "volume_mm3": part.sum() * voxel_mm3,
            "length_mm": float(np.sum(zooms[2] / cos[present])),
            "max_equivalent_diameter_mm": float(2 * np.sqrt(np.max(area * cos) / np.pi)),
            "max_axial_damage_ratio": float(np.nanmax(ratio[present])) if np.isfinite(ratio[present]).any() else np.nan,
            "centroid_x_mm": centre[0], "centroid_y_mm": centre[1], "centroid_z_mm": centre[2],
            "n_voxels": int(part.sum()), "chunk": chunk_value, "region": region,
        })
    table = pd.DataFrame(rows, columns=LESION_COLUMNS)
    table["chunk"] = table["chunk"].astype("Int64")
    return table


def image_summary(lesions: pd.DataFrame, cord: np.ndarray, affine: np.ndarray, chunk: int | None = None) -> dict:
    """Per-image counts: ``n_lesions``, ``total_lesion_volume_mm3``, ``cord_volume_mm3``, ``chunk``, ``region``."""
    chunk_value, region = _chunk_of(chunk)
    return {"n_lesions": len(lesions), "total_lesion_volume_mm3": float(lesions["volume_mm3"].sum()),
            "cord_volume_mm3": float((np.asarray(cord) > 0).sum() * np.prod(voxel_sizes(affine))),
            "chunk": chunk_value, "region": region}


def chunk_from_name(path: str | Path) -> int | None:
    """The ``chunk`` entity of a BIDS-style file name (``..._chunk-2_...``), or None (also for non-BIDS names)."""
    try:
        value = parse_entities(Path(path).name).get("chunk")
    except InputError:
        return None
    return int(value) if value is not None and str(value).isdigit() else None


def analyze_files(lesion_path: str | Path, cord_path: str | Path, connectivity: int) -> pd.DataFrame:
    """:func:`lesion_table` of a lesion mask file and a cord mask file (the ``sclesion lesions`` command).

    The chunk is read from the lesion mask's file name (``chunk`` entity), when it has one.

    Raises
    ------
    InputError
        If either file is not a binary 3D NIfTI mask, or the two grids differ.
    """
    lesion, affine = load_mask(lesion_path)
    cord, cord_affine = load_mask(cord_path)
    if lesion.shape != cord.shape:
        raise InputError(f"cord mask shape {cord.shape} differs from the lesion mask's {lesion.shape}", cord_path)
    if not affines_match(affine, cord_affine):
        raise InputError("cord mask affine differs from the lesion mask's (not the same voxel grid)", cord_path)
    return lesion_table(lesion, cord, affine, connectivity, chunk_from_name(lesion_path))


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as TSV atomically (``n/a`` for missing values, as BIDS)."""
    from sclesion.core.atomic import write_text

    return write_text(table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n",
                                   float_format="%.6g"), path)
