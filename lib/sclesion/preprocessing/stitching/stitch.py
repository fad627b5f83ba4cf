"""Stitching axial chunks into one whole-spine image or mask (paper section 2.2.1; Graf et al. 2024).

The algorithm is the one of ``TPTBox.stitching`` (run, as the authors did, in scanner coordinates, without
bias-field correction and without histogram matching), without its defects:

- the output grid covers exactly the union of the chunks (:mod:`sclesion.preprocessing.stitching.grid`);
- masks stay whole across an overlap (weighted vote with ties kept, :mod:`sclesion.preprocessing.stitching.blend`);
- flipped, permuted and oblique chunks are handled; gaps are left empty and reported in mm
  (:mod:`sclesion.preprocessing.stitching.report`);
- chunks are resampled only over their footprint, per axis when they are axis-parallel
  (:mod:`sclesion.preprocessing.stitching.resample`), so stitching three 320x256x35 chunks takes well under a second.

Public API: :func:`stitch_images` (in memory) and :func:`stitch_files` (files, atomic, skips an output whose
provenance record matches its chunks and options, :mod:`sclesion.core.provenance`).
Arrays are indexed ``[i, j, k]`` like their affines; affines map voxel indices to world RAS+ mm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from sclesion.core.atomic import save_nifti
from sclesion.core.errors import InputError
from sclesion.core.names import name_kind
from sclesion.core.nifti import as_3d, load_nifti, nifti_stem, read_data
from sclesion.core.provenance import OutputSet
from sclesion.preprocessing.stitching.blend import (OverlapWeights, blend_images, blend_masks, overlap_boxes,
                                                    ramp_weights)
from sclesion.preprocessing.stitching.grid import footprint, plan_grid
from sclesion.preprocessing.stitching.report import StitchReport, make_report
from sclesion.preprocessing.stitching.resample import resample

#: Most distinct values a chunk may hold and still look like a mask (label map) rather than an image.
MAX_MASK_LABELS: int = 64


@dataclass(frozen=True)
class StitchResult:
    """The stitched image and what happened.

    Attributes
    ----------
    image : nibabel.Nifti1Image
        float32 image, or uint8 label map for masks, on the output grid (``report.affine``, ``report.shape``).
    report : StitchReport
        Junctions (overlaps and gaps in mm), empty slices, output geometry.
    weights : list of OverlapWeights
        The normalised ramp weights, one entry per overlap region (empty when no chunks overlap).
    """

    image: nib.Nifti1Image
    report: StitchReport
    weights: list[OverlapWeights]


def stitch_images(images: list[nib.Nifti1Image], is_mask: bool) -> StitchResult:
    """Stitch chunks (in memory) into one image on a grid covering exactly their union.

    Parameters
    ----------
    images : list of nibabel.Nifti1Image
        The chunks, 3D, each with its own affine (any orientation, possibly oblique), in any order. A 4D
        image with a single volume ``(X, Y, Z, 1)`` is accepted as 3D.
    is_mask : bool
        True for masks / label maps (integer labels 0..255; nearest-neighbour resampling, weighted vote in
        overlaps, uint8 output); False for images (cubic spline, ramp-weighted sum, float32 output).

    Returns
    -------
    StitchResult

    Raises
    ------
    InputError
        If the list is empty; images loaded from files whose names carry different ``sub-``/``ses-`` entities;
        a chunk is not a 3D image, has a singular affine or NaN/infinite values; with
        ``is_mask`` a chunk holds non-integer or out-of-range labels; without ``is_mask`` some chunks look
        like masks and others like images (a mix).
    """
    if not isinstance(images, (list, tuple)) or not images:
        raise InputError("no chunks to stitch: pass a non-empty list of images")
    names = [_name_of(img, k) for k, img in enumerate(images)]
    check_same_session([Path(n) for n in names])  # images loaded from files carry their names
    arrays, affines = [], []
    for img, name in zip(images, names):
        data, affine = _read_chunk(img, name)
        arrays.append(data)
        affines.append(affine)
    return _stitch_arrays(arrays, affines, names, is_mask)


def stitch_files(paths: list[str | Path], out_path: str | Path, is_mask: bool | None = None) -> StitchReport:
    """Stitch chunk files into ``out_path`` (written atomically); skip the work if it is up to date.

    The output is up to date when its provenance record (:mod:`sclesion.core.provenance`) holds the checksums
    of these chunks and the same ``is_mask``; any other existing output is replaced.

    Parameters
    ----------
    paths : list of str or Path
        Chunk files (``.nii`` or ``.nii.gz``) of one subject and session, all images or all masks.
    out_path : str or Path
        Output file; its folder is created.
    is_mask : bool, optional
        Force mask (True) or image (False). By default it is read from the file names (a last part such as
        ``_seg-manual``, ``_lesion-manual``, ``_seg``, ``_mask`` means mask; ``_T2w`` and other BIDS image
        suffixes mean image; :func:`sclesion.core.names.name_kind`) and, for names that say neither, from the
        values (at most :data:`MAX_MASK_LABELS` distinct integer values in 0..255 means mask).

    Returns
    -------
    StitchReport
        With ``status`` ``written``, ``rewritten`` or ``up to date``; when up to date it is computed from the
        input headers only (no voxel data read, nothing written), so a rerun still reports the gaps.

    Raises
    ------
    InputError
        If no path is given or one repeats or equals ``out_path``; ``out_path`` is not ``.nii(.gz)``; the names
        carry different ``sub-``/``ses-`` entities (chunks of different subjects or sessions); names or values
        mix images and masks; a file is missing, unreadable, not 3D or holds NaN/infinite values; see also
        :func:`stitch_images`.
    """
    paths = [Path(p) for p in paths]
    out_path = Path(out_path)
    _check_paths(paths, out_path)
    check_same_session(paths)
    named = _kind_from_names(paths)
    outputs = OutputSet("stitch", [out_path], {str(k): p for k, p in enumerate(sorted(paths, key=str))},
                        {"is_mask": is_mask})
    headers = [load_nifti(p) for p in paths]
    for header, path in zip(headers, paths):
        _check_geometry(header, str(path))
    status = outputs.status()
    if status == "current":
        affines = [h.affine for h in headers]
        shapes = [h.shape for h in headers]
        grid = plan_grid(affines, shapes)
        report = make_report(grid, [footprint(grid, a, s) for a, s in zip(affines, shapes)], affines, shapes)
        return replace(report, status="up to date")
    arrays = [read_data(h, p, dtype=None) for h, p in zip(headers, paths)]
    names = [str(p) for p in paths]
    if is_mask is None:
        is_mask = named if named is not None else _kind_from_values(arrays, names)
    result = _stitch_arrays(arrays, [h.affine for h in headers], names, is_mask)
    with outputs.writing():
        save_nifti(result.image, out_path)
    return replace(result.report, status="written" if status == "missing" else "rewritten")


def check_same_session(paths: list[Path]) -> None:
    """Raise :class:`InputError` if the file names carry different ``sub-`` or ``ses-`` entities.

    Names without the entity are not compared (e.g. ``chunk1.nii.gz``).
    """
    for key in ("sub", "ses"):
        found = {p: _entity(p, key) for p in paths}
        values = sorted({v for v in found.values() if v is not None})
        if len(values) > 1:
            listing = ", ".join(f"{p.name} ({key}-{v})" for p, v in found.items() if v is not None)
            what = "subjects" if key == "sub" else "sessions"
            raise InputError(f"chunks come from different {what}, refusing to stitch them: {listing}")


def _stitch_arrays(arrays: list[np.ndarray], affines: list[np.ndarray], names: list[str],
                   is_mask: bool) -> StitchResult:
    """Validate values for the kind, then plan, resample, blend and wrap as a NIfTI image."""
    if is_mask:
        arrays = [_as_labels(a, n) for a, n in zip(arrays, names)]
    else:
        _refuse_mix(arrays, names)
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    shapes = [a.shape for a in arrays]
    grid = plan_grid(affines, shapes)
    footprints = [footprint(grid, a, s) for a, s in zip(affines, shapes)]
    pieces = [resample(data, fp, is_mask) for data, fp in zip(arrays, footprints)]
    weights = [ramp_weights(box, pieces, grid.spacing) for box in overlap_boxes(grid.shape, pieces)]
    out = blend_masks(grid.shape, pieces, weights) if is_mask else blend_images(grid.shape, pieces, weights)
    image = nib.Nifti1Image(out, grid.affine)
    image.header.set_qform(grid.affine, code=1)  # scanner coordinates, as the chunks'
    image.header.set_sform(grid.affine, code=1)
    image.header.set_xyzt_units("mm")
    return StitchResult(image=image, report=make_report(grid, footprints, affines, shapes), weights=weights)


def _name_of(img, index: int) -> str:
    filename = img.get_filename() if hasattr(img, "get_filename") else None
    return filename or f"chunk {index + 1}"


def _read_chunk(img, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one in-memory chunk and return ``(data, affine)``; data keep their dtype."""
    img = as_3d(img, name)
    _check_geometry(img, name)
    return read_data(img, name, dtype=None), np.asarray(img.affine, dtype=float)


def _check_geometry(img, name: str) -> None:
    """Raise :class:`InputError` for a chunk without voxels or with an affine that cannot place it in space."""
    if min(img.shape) == 0:
        raise InputError(f"image has no voxels (shape {tuple(img.shape)})", name)
    affine = np.asarray(img.affine, dtype=float)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InputError("affine is singular or not finite; cannot place the chunk in space", name)


def _as_labels(data: np.ndarray, name: str) -> np.ndarray:
    """A chunk as a uint8 label map, or :class:`InputError` if it is not one."""
    if data.dtype == bool:
        return data.astype(np.uint8)
    if data.dtype != np.uint8:
        low, high = float(data.min()), float(data.max())
        if low < 0 or high > 255:
            raise InputError(f"a mask must hold integer labels 0..255, found values {low:g}..{high:g}", name)
        if data.dtype.kind == "f":
            fractional = data != np.round(data)
            if fractional.any():
                raise InputError(f"a mask must hold integer labels, found {data[fractional].flat[0]:g}; "
                                 "is it an image?", name)
        data = data.astype(np.uint8)
    if int(data.max()) >= MAX_MASK_LABELS:  # otherwise there cannot be more distinct values than allowed
        present = np.zeros(256, dtype=bool)
        present[data.ravel(order="K")] = True
        if int(present.sum()) > MAX_MASK_LABELS:
            raise InputError(f"holds {int(present.sum())} distinct values: an image, not a mask", name)
    return data


def _looks_like_mask(data: np.ndarray) -> bool:
    """True for a label map: at most :data:`MAX_MASK_LABELS` distinct integer values in 0..255."""
    sample = data.ravel(order="K")[:: max(1, data.size // 4096)]
    if data.dtype.kind == "f" and (sample != np.round(sample)).any():
        return False
    try:
        _as_labels(data, "")
    except InputError:
        return False
    return True


def _refuse_mix(arrays: list[np.ndarray], names: list[str]) -> None:
    """Raise :class:`InputError` when some chunks look like masks and others like images."""
    masks = [n for a, n in zip(arrays, names) if _looks_like_mask(a)]
    if masks and len(masks) < len(arrays):
        images = [n for n in names if n not in masks]
        raise InputError(
            f"mix of images and masks: {', '.join(masks)} look(s) like a mask (few integer labels), "
            f"{', '.join(images)} like an image; stitch images and masks separately"
        )


def _kind_from_values(arrays: list[np.ndarray], names: list[str]) -> bool:
    """True when every chunk looks like a mask, False when none does; :class:`InputError` for a mix."""
    _refuse_mix(arrays, names)
    return _looks_like_mask(arrays[0])


def _entity(path: Path, key: str) -> str | None:
    for part in nifti_stem(path).split("_"):
        if part.startswith(f"{key}-"):
            return part[len(key) + 1 :]
    return None


def _kind_from_names(paths: list[Path]) -> bool | None:
    """The kind the names agree on (None if they say nothing); :class:`InputError` if they mix kinds."""
    kinds = {p: name_kind(p) for p in paths}
    said = {k for k in kinds.values() if k is not None}
    if len(said) > 1:
        masks = ", ".join(p.name for p, k in kinds.items() if k)
        raise InputError(f"mix of images and masks (by file name; masks: {masks}); stitch them separately")
    return said.pop() if said else None


def _check_paths(paths: list[Path], out_path: Path) -> None:
    if not paths:
        raise InputError("no chunks to stitch: pass at least one input file")
    if not out_path.name.endswith((".nii", ".nii.gz")):
        raise InputError("the output must be a .nii or .nii.gz file", out_path)
    resolved = [p.resolve() for p in paths]
    for k, r in enumerate(resolved):
        if r in resolved[:k]:
            raise InputError("the same chunk is given twice", paths[k])

