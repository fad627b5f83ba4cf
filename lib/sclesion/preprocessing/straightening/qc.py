"""Quality of a straightening: centerline accuracy, the straightened cord's shape, round trips, lesion volumes.

Used by the tests, the benchmark and the straightening chapter. Every measure compares the straightening with
something it should preserve:

* :func:`centerline_error_mm`: distance from the fitted centerline to a known (true) one.
* :func:`straight_cord_profile`: on each straight slice, the cord's area and the offset of its centroid from
  the straight axis (a perfect straightening puts the cord on the axis), beside the native cross-sectional
  area corrected for the slice tilt (``area x cos(tilt)``, as SCT's ``sct_process_segmentation`` does).
* :func:`round_trip_dice`: the cord mask taken to straight space and back, compared with itself.
* :func:`lesion_volume_changes`: each lesion's volume before and after, with its side of the curve and the
  change that the geometry of straightening predicts (``1 / (1 - kappa . offset)``).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

from sclesion.core.conventions import REGION_THRESHOLD
from sclesion.core.nifti import to_rpi, voxel_sizes
from sclesion.evaluation.lesions import label_lesions
from sclesion.evaluation.metrics import dice
from sclesion.preprocessing.straightening.centerline import slice_centroids
from sclesion.preprocessing.straightening.straighten import Straightening, _translation
from sclesion.preprocessing.straightening.warp import field_positions, sample, warp_labels_back


def dense_polyline(points: np.ndarray, step_mm: float = 0.05) -> np.ndarray:
    """Resample a polyline (M, 3) by linear interpolation every ``step_mm`` of its length; shape (N, 3)."""
    points = np.asarray(points, dtype=float)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    at = np.linspace(0.0, arc[-1], int(np.ceil(arc[-1] / step_mm)) + 1)
    return np.column_stack([np.interp(at, arc, points[:, axis]) for axis in range(3)])


def centerline_error_mm(fitted_mm: np.ndarray, true_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) from each fitted centerline point to the true centerline (a polyline, resampled densely).

    Parameters
    ----------
    fitted_mm : ndarray, shape (N, 3)
        Fitted centerline points, world mm.
    true_mm : ndarray, shape (M, 3)
        True centerline, world mm, ordered along the cord.

    Returns
    -------
    ndarray, shape (N,)
    """
    distance, _ = cKDTree(dense_polyline(true_mm)).query(np.asarray(fitted_mm, dtype=float))
    return distance


def round_trip_dice(st: Straightening, cord_mask: nib.Nifti1Image) -> dict[str, float]:
    """Dice of a native mask (the cord, or the lesions) with itself after a trip to straight space and back.

    Returns
    -------
    dict
        ``fields``: the mask warped to straight space and back with linear interpolation, binarized once at
        the end (> 0.5): how well the two fields invert each other (the measure SCT's figures use).
        ``pipeline``: the study's path, binarized in straight space (linear, > 0.5) and brought back as a
        label map (spline, > 0.5; :func:`sclesion.preprocessing.straightening.warp.warp_labels_back`): the best
        native Dice a perfect straight-space segmentation can reach.
    """
    native = np.asanyarray(cord_mask.dataobj) > REGION_THRESHOLD
    cord_mask = nib.Nifti1Image(native.astype(np.uint8), cord_mask.affine)  # a label map becomes one mask
    soft = st.to_straight(cord_mask, interp="linear")
    fields = np.asanyarray(st.to_native(soft, interp="linear", threshold=REGION_THRESHOLD).dataobj) > 0
    binary = st.to_straight(cord_mask, interp="linear", threshold=REGION_THRESHOLD)
    pipeline = np.asanyarray(warp_labels_back(binary, st.straight_to_native, st.native).dataobj) > 0
    return {"fields": dice(fields, native), "pipeline": dice(pipeline, native)}


def straight_cord_profile(
    st: Straightening, straight_mask: nib.Nifti1Image, cord_mask: nib.Nifti1Image
) -> pd.DataFrame:
    """The straightened cord slice by slice, beside the native cord's tilt-corrected area.

    Parameters
    ----------
    st : Straightening
    straight_mask : nib.Nifti1Image
        Cord mask in straight space, binary or soft: with ``st.to_straight(cord)`` (linear interpolation, not
        binarized) areas and centroids are weighted by the partial-volume values, which measures the
        straightening itself rather than the binarization.
    cord_mask : nib.Nifti1Image
        The native cord mask.

    Returns
    -------
    pandas.DataFrame
        One row per straight slice holding cord: ``s_mm`` (arc length), ``area_mm2`` (straight cord area),
        ``native_area_mm2`` (native slice area x cos(tilt), interpolated at ``s_mm``; NaN outside the native
        slices), ``area_ratio`` (straight / native), ``offset_vox`` (distance of the cord centroid from the
        straight axis, in-plane voxels), ``partial`` (True on slices with less than half the median area, the
        cord's ends).
    """
    grid = st.grid
    values = np.asanyarray(straight_mask.dataobj, dtype=np.float32)
    i, j, k = np.nonzero(values > 0)
    weight = values[i, j, k]
    counts = np.bincount(k, weights=weight, minlength=grid.shape[2])
    slices = np.flatnonzero(counts > 0)
    du = np.bincount(k, weights=weight * i, minlength=grid.shape[2])[slices] / counts[slices] - grid.half
    dv = np.bincount(k, weights=weight * j, minlength=grid.shape[2])[slices] / counts[slices] - grid.half
    area = counts[slices] * grid.spacing[0] * grid.spacing[1]

    native, affine = to_rpi(np.asanyarray(cord_mask.dataobj) > REGION_THRESHOLD, cord_mask.affine)
    native_counts = native.sum(axis=(0, 1))
    present = np.flatnonzero(native_counts)
    zooms = voxel_sizes(affine)
    # Arc length and tilt of the centerline where it crosses each native slice.
    s_native = _crossing_arc_length(st, affine, present)
    _, tangent, _ = st.centerline.point_tangent_curvature(s_native)
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal *= np.sign(normal @ affine[:3, 2]) / np.linalg.norm(normal)
    native_area = native_counts[present] * zooms[0] * zooms[1] * np.abs(tangent @ normal)
    s = grid.slice_s[slices]
    inside = (s >= s_native.min()) & (s <= s_native.max())
    native_at_s = np.where(inside, np.interp(s, s_native, native_area), np.nan)
    return pd.DataFrame(
        {
            "s_mm": s,
            "area_mm2": area,
            "native_area_mm2": native_at_s,
            "area_ratio": area / native_at_s,
            "offset_vox": np.hypot(du, dv),
            "partial": area < 0.5 * np.median(area),
        }
    )


def _crossing_arc_length(st: Straightening, affine: np.ndarray, slices: np.ndarray) -> np.ndarray:
    """Arc length (mm) at which the centerline crosses the given slices of an RPI grid."""
    inverse = np.linalg.inv(affine)
    crossing = st.centerline.points @ inverse[2, :3] + inverse[2, 3]
    return np.interp(slices, crossing, st.centerline.s)


def lesion_volume_changes(st: Straightening, lesion_mask: nib.Nifti1Image,
                          threshold: float = REGION_THRESHOLD) -> pd.DataFrame:
    """Volume of each native lesion before and after straightening, with its position on the curve.

    Lesions are the study's lesions (:func:`sclesion.evaluation.lesions.label_lesions`, 6-connectivity) of the
    native mask; the straight components are labelled the same way. Two straight volumes are
    measured: ``binary``, as the authors warped masks (linear interpolation, > ``threshold``; each straight
    component credited to the native lesion that covers most of it, read through the field by nearest
    neighbour), and ``soft``, the sum of the linearly interpolated values of that lesion alone (no
    binarization: the volume change due to the geometry alone).

    Straightening maps the curved cord onto a cylinder of the same arc length: at offset ``d`` (mm) from the
    centerline, a volume element changes by ``1 / (1 - kappa . d)`` (``kappa`` the curvature vector, pointing
    to the concave side). Tissue on the concave (inner) side is stretched, on the convex side compressed.

    Returns
    -------
    pandas.DataFrame
        One row per native lesion: ``lesion`` (component number), ``volume_native_mm3``,
        ``volume_binary_mm3``, ``volume_soft_mm3``, ``ratio_binary`` and ``ratio_soft`` (straight / native),
        ``s_mm``, ``u_mm``, ``v_mm`` (its centroid in straight coordinates), ``curvature_per_mm``,
        ``concave_offset_mm`` (centroid offset towards the centre of curvature; negative = convex side) and
        ``expected_ratio`` (the geometric prediction at the centroid).
    """
    native = np.asanyarray(lesion_mask.dataobj) > REGION_THRESHOLD  # also accepts a label map (any lesion > 0.5)
    labels, n = label_lesions(native)
    columns = ["lesion", "volume_native_mm3", "volume_binary_mm3", "volume_soft_mm3", "ratio_binary", "ratio_soft",
               "s_mm", "u_mm", "v_mm", "curvature_per_mm", "concave_offset_mm", "expected_ratio"]
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype=int if c == "lesion" else float) for c in columns})
    native_voxel = float(np.prod(voxel_sizes(lesion_mask.affine)))
    straight_voxel = float(np.prod(st.grid.spacing))
    native_volume = np.bincount(labels.ravel(), minlength=n + 1)[1:] * native_voxel

    # Binary: the authors' warp, components credited by majority of their nearest-neighbour native label.
    binary = nib.Nifti1Image(native.astype(np.uint8), lesion_mask.affine)
    straight = np.asanyarray(st.to_straight(binary, interp="linear", threshold=threshold).dataobj) > 0
    label_image = nib.Nifti1Image(labels.astype(np.int32), lesion_mask.affine)
    owner = np.asanyarray(st.to_straight(label_image, interp="nearest").dataobj)
    components, _ = label_lesions(straight)
    binary_volume = np.zeros(n + 1)
    for component, where in enumerate(ndimage.find_objects(components), start=1):
        inside = components[where] == component
        votes = np.bincount(owner[where][inside], minlength=n + 1)
        votes[0] = 0
        if votes.any():
            binary_volume[np.argmax(votes)] += inside.sum() * straight_voxel

    # Soft: each lesion's own indicator interpolated linearly at the straight voxels of a box around it (its
    # voxels' straight positions, read from the inverse field, grown by 2 voxels), summed.
    forward = field_positions(st.native_to_straight)
    backward = np.asarray(st.straight_to_native.dataobj, dtype=np.float32)[:, :, :, 0, :]
    to_straight_voxel = np.linalg.inv(st.grid.affine)
    soft_volume = np.zeros(n + 1)
    for lesion, where in enumerate(ndimage.find_objects(labels), start=1):
        voxels = np.argwhere(labels[where] == lesion) + [w.start for w in where]
        world = voxels @ lesion_mask.affine[:3, :3].T + lesion_mask.affine[:3, 3]
        straight_world = world + backward[tuple(voxels.T)] * [-1.0, -1.0, 1.0]  # LPS -> RAS displacement
        straight_voxel_index = straight_world @ to_straight_voxel[:3, :3].T + to_straight_voxel[:3, 3]
        low = np.maximum(np.floor(straight_voxel_index.min(axis=0)).astype(int) - 2, 0)
        high = np.minimum(np.ceil(straight_voxel_index.max(axis=0)).astype(int) + 3, st.grid.shape)
        if np.any(high <= low):
            continue
        box = tuple(slice(lo, hi) for lo, hi in zip(low, high))
        native_box = tuple(slice(max(w.start - 1, 0), w.stop + 1) for w in where)
        crop_affine = lesion_mask.affine @ _translation([w.start for w in native_box])
        indicator = (labels[native_box] == lesion).astype(np.float32)
        soft_volume[lesion] = sample(indicator, crop_affine, forward[box], order=1).sum() * straight_voxel

    index = np.arange(1, n + 1)
    centroids = np.array(ndimage.center_of_mass(native, labels, index)).reshape(n, 3)
    world = np.column_stack([centroids, np.ones(n)]) @ lesion_mask.affine[:3].T
    nearest = np.argmin(np.linalg.norm(st.centerline.points[None] - world[:, None], axis=2), axis=1)
    s = st.centerline.project(world, st.centerline.s[nearest])
    uv = st.centerline.straight_coordinates(world, s)
    _, _, curvature = st.centerline.point_tangent_curvature(s)
    _, right, anterior = st.centerline.point_frame(s)
    offset = uv[:, :1] * right + uv[:, 1:] * anterior
    kappa_dot_offset = np.einsum("ij,ij->i", curvature, offset)
    kappa = np.linalg.norm(curvature, axis=1)
    return pd.DataFrame(
        {
            "lesion": index,
            "volume_native_mm3": native_volume,
            "volume_binary_mm3": binary_volume[1:],
            "volume_soft_mm3": soft_volume[1:],
            "ratio_binary": binary_volume[1:] / native_volume,
            "ratio_soft": soft_volume[1:] / native_volume,
            "s_mm": s,
            "u_mm": uv[:, 0],
            "v_mm": uv[:, 1],
            "curvature_per_mm": kappa,
            "concave_offset_mm": np.divide(kappa_dot_offset, kappa, out=np.zeros(n), where=kappa > 0),
            "expected_ratio": 1.0 / (1.0 - kappa_dot_offset),
        },
        columns=columns,
    )


def assess_straightening(
    st: Straightening,
    cord_mask: nib.Nifti1Image,
    lesion_mask: nib.Nifti1Image | None = None,
    true_centerline_mm: np.ndarray | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Every measure of this module for one straightening.

    Parameters
    ----------
    st : Straightening
    cord_mask : nib.Nifti1Image
        The native cord mask the straightening followed.
    lesion_mask : nib.Nifti1Image, optional
        Native lesion mask (for :func:`lesion_volume_changes`).
    true_centerline_mm : ndarray, shape (M, 3), optional
        The true centerline (world mm), when known.

    Returns
    -------
    summary : dict
        ``length_mm`` (centerline), ``straight_slices``, ``centerline_error_mm`` (mean distance to the truth;
        NaN without one), ``offset_mean_vox`` and ``offset_max_vox`` (straight cord centroid from the axis,
        in-plane voxels, soft mask, whole slices), ``area_ratio_median``, ``area_ratio_min``,
        ``area_ratio_max`` (straight / tilt-corrected native area, whole slices), ``round_trip_fields`` and
        ``round_trip_pipeline`` (:func:`round_trip_dice` of the cord), ``lesion_round_trip_pipeline`` (the same
        for the lesion mask; NaN without lesions), and ``centroid_error_mm``, the mean distance from the cord
        mask's own slice centroids to the truth (the error of the input, which no fit can remove; NaN without
        a truth).
    lesions : pandas.DataFrame
        :func:`lesion_volume_changes` (empty without a lesion mask).
    """
    profile = straight_cord_profile(st, st.to_straight(cord_mask), cord_mask)
    whole = profile[~profile["partial"]]
    error = centroid_error = float("nan")
    if true_centerline_mm is not None:
        error = float(centerline_error_mm(st.centerline.points, true_centerline_mm).mean())
        mask, affine = to_rpi(np.asanyarray(cord_mask.dataobj), cord_mask.affine)
        centroid_error = float(centerline_error_mm(slice_centroids(mask, affine)[1], true_centerline_mm).mean())
    dices = round_trip_dice(st, cord_mask)
    summary = {
        "length_mm": st.centerline.length,
        "straight_slices": st.grid.shape[2],
        "centerline_error_mm": error,
        "centroid_error_mm": centroid_error,
        "offset_mean_vox": float(whole["offset_vox"].mean()),
        "offset_max_vox": float(whole["offset_vox"].max()),
        "area_ratio_median": float(whole["area_ratio"].median()),
        "area_ratio_min": float(whole["area_ratio"].min()),
        "area_ratio_max": float(whole["area_ratio"].max()),
        "round_trip_fields": dices["fields"],
        "round_trip_pipeline": dices["pipeline"],
    }
    if lesion_mask is None:
        lesion_mask = nib.Nifti1Image(np.zeros(cord_mask.shape, np.uint8), cord_mask.affine)
    has_lesions = bool((np.asanyarray(lesion_mask.dataobj) > REGION_THRESHOLD).any())
    summary["lesion_round_trip_pipeline"] = (
        round_trip_dice(st, lesion_mask)["pipeline"] if has_lesions else float("nan")
    )
    return summary, lesion_volume_changes(st, lesion_mask)
