"""Cord stand-in: a classical, training-free spinal cord segmentation of an axial T2w image.

Where Spinal Cord Toolbox is absent (the demo) this stand-in takes the place of its cord segmentation tools in
the comparison of spinal cord segmentations (paper 2.5.1, 3.1); every table and legend calls it a stand-in. It
learns nothing and reads no reference mask: it uses only the image's T2w contrast, where the cerebrospinal
fluid (CSF) is bright and the cord inside it darker.

Method (arrays in RPI: axis 0 right->left, axis 1 posterior->anterior, axis 2 inferior->superior, one axial
slice per index of axis 2):

1. Each axial slice is smoothed (Gaussian, :data:`SMOOTH_MM` mm).
2. Per slice, the bright level is the :data:`BRIGHT_PERCENTILE` th percentile of the slice within
   :data:`SEARCH_RADIUS_MM` of the image centre (the field of view is centred near the canal). For each
   threshold in :data:`RING_FRACTIONS` (fractions of the bright level, high to low), the bright voxels are the
   CSF candidate; dark regions they fully enclose (holes) of a cord-like area (:data:`AREA_MM2`) whose
   median is darker than :data:`MAX_INSIDE_FRACTION` of the ring around them, and whose ring is at least
   :data:`MIN_RING_CONTRAST` times the slice's median near the centre, are cord candidates.
3. The candidate nearest the expected centre is refined: the slice is thresholded again midway between the
   candidate's median and its ring's median, and the convex hull of the hole overlapping the candidate most is
   kept (the cord's cross-section is convex; the hull fills bright lesions inside the cord, and a lesion
   touching the CSF would otherwise cut a notch).
4. Along S-I: slices whose centre is more than :data:`MAX_JUMP_MM` mm from the running median of the centres,
   or whose area is off the running median by more than a factor :data:`MAX_AREA_RATIO`, are searched again
   near the interpolated centre; where that fails, a slice lying between accepted slices gets its nearer
   accepted neighbour's mask moved to the interpolated centre. Slices beyond the first and last accepted
   slice stay empty (e.g. below the conus).
5. The 3D mask is the largest connected component (26-connectivity).

The output is on the input image's grid (same shape and affine), uint8 in {0, 1}.

Functions
---------
segment_cord   the mask of an image array
segment_file   the mask of an image file (checked, reoriented to RPI and back)
run            segment a list of image files into a folder, ``<image stem>_seg-cordstandin.nii.gz`` each
run_each       the shared runner of both stand-ins (atomic outputs, provenance, skip when up to date, workers)
mask_image     a uint8 NIfTI mask on a given affine
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image
from tqdm.auto import tqdm

from sclesion.core.atomic import save_nifti
from sclesion.core.errors import InputError
from sclesion.core.names import require_nifti
from sclesion.core.nifti import from_rpi, load_image, nifti_stem, to_rpi, voxel_sizes
from sclesion.core.provenance import OutputSet
from sclesion.core.workers import check_jobs, process_pool

#: Version of the method; part of every output's provenance record (a change recomputes the outputs).
VERSION: str = "1"

#: Entity of the output files: ``<image stem>_seg-cordstandin.nii.gz`` (a cord mask for the evaluation).
OUTPUT_ENTITY: str = "seg-cordstandin"

#: In-plane Gaussian smoothing before thresholding, sigma in mm.
SMOOTH_MM: float = 0.5

#: Percentile of a slice's smoothed intensities (near the centre) taken as the CSF's bright level.
BRIGHT_PERCENTILE: float = 99.0

#: Radius (mm) around the image centre searched for the cord on a slice without a better prior.
SEARCH_RADIUS_MM: float = 22.0

#: Thresholds tried for the CSF ring, as fractions of the bright level, from high to low.
RING_FRACTIONS: tuple[float, ...] = (0.85, 0.8, 0.75, 0.7, 0.65)

#: Cross-sectional area (mm^2) a cord candidate may have on one slice.
AREA_MM2: tuple[float, float] = (8.0, 200.0)

#: A candidate's median intensity must be below this fraction of its ring's median.
MAX_INSIDE_FRACTION: float = 0.85

#: The ring around a candidate must be at least this many times as bright as the slice's median near the
#: centre (CSF is about 2-3 times as bright as the tissues around the canal on T2w).
MIN_RING_CONTRAST: float = 1.5

#: Largest in-plane distance (mm) between a slice's cord centre and the running median of the centres.
MAX_JUMP_MM: float = 3.0

#: Largest factor between a slice's cord area and the running median of the areas.
MAX_AREA_RATIO: float = 2.0

#: Slices in the running median along S-I (odd).
RUNNING_SLICES: int = 7

#: Radius (mm) of the second search around a rejected slice's interpolated centre.
RESEARCH_RADIUS_MM: float = 4.0


@dataclass(frozen=True)
class _Slice:
    """A cord candidate on one slice: its mask, centre (voxels, axes 0 and 1) and area (mm^2)."""

    mask: np.ndarray
    centre: np.ndarray
    area_mm2: float


def segment_cord(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Cord mask of an axial T2w image (see the module docstring for the method).

    Parameters
    ----------
    data : numpy.ndarray
        3D image, any axis order (the affine says which; slices are taken along the axis nearest S-I).
    affine : numpy.ndarray
        4x4 voxel-to-world matrix (mm).

    Returns
    -------
    numpy.ndarray
        uint8 mask in {0, 1}, same shape and axis order as ``data``.

    Raises
    ------
    InputError
        If ``data`` is not 3D, holds NaN or infinite values, or the affine is not 4x4.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise InputError(f"cord stand-in needs a 3D image, got shape {data.shape}")
    if np.asarray(affine).shape != (4, 4):
        raise InputError(f"cord stand-in needs a 4x4 affine, got shape {np.asarray(affine).shape}")
    if not np.isfinite(data).all():
        raise InputError("cord stand-in needs finite voxel values (the image holds NaN or infinite values)")
    rpi, rpi_affine = to_rpi(data.astype(np.float32, copy=False), affine)
    mask = _segment_rpi(np.ascontiguousarray(rpi), voxel_sizes(rpi_affine))
    return np.ascontiguousarray(from_rpi(mask, rpi_affine, affine)[0])


def segment_file(image: str | Path) -> nib.Nifti1Image:
    """Cord stand-in mask of an image file, on its grid (uint8 NIfTI with the image's affine).

    Raises
    ------
    InputError
        If the file is not a readable 3D NIfTI image with finite values (one line naming it).
    """
    data, affine = load_image(require_nifti(image))
    try:
        mask = segment_cord(data, affine)
    except InputError as err:
        raise InputError(err.problem, image) from None
    return mask_image(mask, affine)


def run(images, output_dir: str | Path, jobs: int = 1, progress: bool = True) -> list[Path]:
    """Segment every image into ``output_dir`` as ``<image stem>_seg-cordstandin.nii.gz``.

    Outputs are written atomically with a provenance record; an output whose image and method are unchanged
    is skipped (:class:`sclesion.core.provenance.OutputSet`).

    Parameters
    ----------
    images : iterable of str or Path
        Axial T2w NIfTI images.
    output_dir : str or Path
        Folder of the masks (created); :func:`sclesion.evaluation.evaluate.find_predictions` pairs them with
        the references as cord masks.
    jobs : int, default 1
        Worker processes.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    list of Path
        The output masks, in the order of ``images``.
    """
    return run_each(images, output_dir, OUTPUT_ENTITY, "cord-standin", segment_file, {"version": VERSION},
                    jobs=jobs, progress=progress)


def run_each(images, output_dir: str | Path, entity: str, command: str, segment, parameters: dict,
             jobs: int = 1, progress: bool = True) -> list[Path]:
    """Write ``segment(image)`` as ``<output_dir>/<image stem>_<entity>.nii.gz`` for every image not up to date.

    Parameters
    ----------
    images : iterable of str or Path
        Input images (each must be a ``.nii``/``.nii.gz`` file; names must be unique).
    output_dir : str or Path
        Output folder (created).
    entity : str
        Entity appended to the image stem, e.g. ``"seg-cordstandin"``.
    command : str
        Name of the work in the provenance record.
    segment : callable
        ``segment(image_path) -> nibabel.Nifti1Image``, picklable when ``jobs > 1``.
    parameters : dict
        Everything besides the image that changes the output (JSON-serializable), for the provenance record.
    jobs : int, default 1
        Worker processes (:func:`sclesion.core.workers.process_pool`).
    progress : bool, default True
        Show a tqdm progress bar.

    Raises
    ------
    InputError
        If an image is not a NIfTI file or two images share a stem; any image that cannot be read (one line
        naming it), after the others are done.
    """
    jobs = check_jobs(jobs)
    images = [require_nifti(Path(p)) for p in images]
    outputs = [Path(output_dir) / f"{nifti_stem(p)}_{entity}.nii.gz" for p in images]
    if len(set(outputs)) != len(outputs):
        raise InputError("two images share a file name; outputs would overwrite each other", output_dir)
    sets = [OutputSet(command, [out], {"image": image}, parameters) for image, out in zip(images, outputs)]
    todo = [(image, out_set) for image, out_set in zip(images, sets) if not out_set.up_to_date()]
    bar = tqdm(total=len(images), initial=len(images) - len(todo), desc=command, unit="image",
               disable=not progress)
    failures = []

    def write(out_set: OutputSet, result) -> None:
        if isinstance(result, InputError):
            failures.append(result)
        else:
            with out_set.writing():
                save_nifti(result, out_set.outputs[0])
        bar.update()

    if jobs > 1 and len(todo) > 1:
        with process_pool(min(jobs, len(todo))) as pool:
            futures = [(out_set, pool.submit(_safely, segment, image)) for image, out_set in todo]
            for out_set, future in futures:
                write(out_set, future.result())
    else:
        for image, out_set in todo:
            write(out_set, _safely(segment, image))
    bar.close()
    if failures:
        more = f" (and {len(failures) - 1} more images failed)" if len(failures) > 1 else ""
        raise InputError(str(failures[0]) + more)
    return outputs


def _safely(segment, image: Path):
    """``segment(image)``, or the InputError it raised (returned, so other images go on)."""
    try:
        return segment(image)
    except InputError as err:
        return err


def mask_image(mask: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A uint8 NIfTI mask with ``affine`` as its qform and sform."""
    img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return img


# --- the method, on RPI arrays -------------------------------------------------------------------------------


def _segment_rpi(data: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Cord mask of an RPI image with voxel sizes ``spacing`` (mm, axes 0, 1, 2); uint8, same shape."""
    sx, sy = float(spacing[0]), float(spacing[1])
    pixel_mm2 = sx * sy
    smooth = ndimage.gaussian_filter(data, sigma=(SMOOTH_MM / sx, SMOOTH_MM / sy, 0.0))
    n_slices = data.shape[2]
    image_centre = (np.array(data.shape[:2], dtype=float) - 1) / 2
    distance = _distance_map(data.shape[:2], image_centre, sx, sy)
    found: list[_Slice | None] = [
        _find(smooth[:, :, k], image_centre, SEARCH_RADIUS_MM, distance, sx, sy, pixel_mm2) for k in range(n_slices)
    ]
    accepted = _consistent(found, sx, sy)
    slices = [found[k] if accepted[k] else None for k in range(n_slices)]
    good = np.flatnonzero(accepted)
    mask = np.zeros(data.shape, dtype=np.uint8)
    if good.size == 0:
        return mask
    centres = np.array([found[k].centre for k in good])
    areas = np.array([found[k].area_mm2 for k in good])
    for k in range(good[0], good[-1] + 1):
        if slices[k] is not None:
            continue
        expected = np.array([np.interp(k, good, centres[:, 0]), np.interp(k, good, centres[:, 1])])
        expected_area = float(np.interp(k, good, areas))
        candidate = _find(smooth[:, :, k], expected, RESEARCH_RADIUS_MM, distance, sx, sy, pixel_mm2)
        if candidate is not None and 1 / MAX_AREA_RATIO <= candidate.area_mm2 / expected_area <= MAX_AREA_RATIO:
            slices[k] = candidate
        else:
            nearest = good[np.argmin(np.abs(good - k))]
            slices[k] = _moved(found[nearest], expected)
    for k, found_slice in enumerate(slices):
        if found_slice is not None:
            mask[:, :, k] = found_slice.mask
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n > 1:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        mask = (labels == 1 + int(np.argmax(sizes))).astype(np.uint8)
    return mask


def _distance_map(shape: tuple[int, int], centre: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """In-plane distance (mm) of every pixel from ``centre`` (voxel coordinates)."""
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.hypot((i - centre[0]) * sx, (j - centre[1]) * sy)


def _find(plane: np.ndarray, prior: np.ndarray, radius_mm: float, image_distance: np.ndarray, sx: float, sy: float,
          pixel_mm2: float) -> _Slice | None:
    """The cord candidate of one smoothed slice nearest ``prior`` (within ``radius_mm``), refined; or None."""
    central = plane[image_distance <= SEARCH_RADIUS_MM]
    if central.size == 0:
        return None
    bright, typical = np.percentile(central, [BRIGHT_PERCENTILE, 50.0])
    if bright <= 0:
        return None
    for fraction in RING_FRACTIONS:
        candidate = _nearest_hole(plane, plane > fraction * bright, prior, radius_mm, sx, sy, pixel_mm2)
        if candidate is None:
            continue
        inside = float(np.median(plane[candidate]))
        ring = _ring_level(plane, candidate)
        if ring is None or inside >= MAX_INSIDE_FRACTION * ring or ring < MIN_RING_CONTRAST * typical:
            continue
        refined = _refine(plane, candidate, 0.5 * (inside + ring), pixel_mm2)
        if refined is not None:
            return refined
    return None


def _nearest_hole(plane: np.ndarray, bright: np.ndarray, prior: np.ndarray, radius_mm: float, sx: float, sy: float,
                  pixel_mm2: float) -> np.ndarray | None:
    """The hole of ``bright`` (a dark region it encloses) of cord-like area nearest ``prior``; or None."""
    labels, n = _holes(bright)
    if n == 0:
        return None
    index = np.arange(1, n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    i, j = np.indices(labels.shape)
    centres = np.column_stack([np.bincount(labels.ravel(), i.ravel(), n + 1)[1:],
                               np.bincount(labels.ravel(), j.ravel(), n + 1)[1:]]) / counts[:, None]
    areas = counts * pixel_mm2
    distances = np.hypot((centres[:, 0] - prior[0]) * sx, (centres[:, 1] - prior[1]) * sy)
    valid = (areas >= AREA_MM2[0]) & (areas <= AREA_MM2[1]) & (distances <= radius_mm)
    if not valid.any():
        return None
    best = index[valid][np.argmin(distances[valid])]
    return labels == best


def _holes(bright: np.ndarray) -> tuple[np.ndarray, int]:
    """The holes of a 2D mask (regions of ``~bright`` not touching the border, 4-connected), labelled 1..n."""
    labels, n = ndimage.label(~bright)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = np.ones(n + 1, dtype=bool)
    keep[border] = False
    keep[0] = False
    new_index = np.cumsum(keep) * keep
    return new_index[labels], int(keep.sum())


def _ring_level(plane: np.ndarray, region: np.ndarray) -> float | None:
    """Median of the brightest half of the 2-pixel shell around ``region`` (the CSF next to it), or None."""
    shell = ndimage.binary_dilation(region, iterations=2) & ~region
    values = plane[shell]
    if values.size == 0:
        return None
    return float(np.median(values[values >= np.median(values)]))


def _refine(plane: np.ndarray, candidate: np.ndarray, threshold: float, pixel_mm2: float) -> _Slice | None:
    """The hole of ``plane > threshold`` overlapping ``candidate`` most, filled and made convex; or None."""
    labels, n = _holes(plane > threshold)
    overlap = np.bincount(labels[candidate], minlength=n + 1)[1:] if n else np.zeros(0)
    if overlap.size == 0 or overlap.max() == 0:
        region = candidate
    else:
        region = labels == 1 + int(np.argmax(overlap))
    region = convex_hull_image(region)
    area = float(region.sum()) * pixel_mm2
    if not AREA_MM2[0] <= area <= AREA_MM2[1]:
        return None
    return _Slice(region, np.array(ndimage.center_of_mass(region)), area)


def _consistent(found: list[_Slice | None], sx: float, sy: float) -> np.ndarray:
    """Which slices' candidates agree with the running median of centres and areas along S-I (bool per slice)."""
    present = np.array([f is not None for f in found])
    accepted = present.copy()
    index = np.flatnonzero(present)
    if index.size == 0:
        return accepted
    centres = np.array([found[k].centre for k in index])
    areas = np.array([found[k].area_mm2 for k in index])
    half = RUNNING_SLICES // 2
    for n, k in enumerate(index):
        window = slice(max(0, n - half), n + half + 1)
        centre = np.median(centres[window], axis=0)
        area = float(np.median(areas[window]))
        jump = np.hypot((centres[n, 0] - centre[0]) * sx, (centres[n, 1] - centre[1]) * sy)
        ratio = areas[n] / area
        accepted[k] = jump <= MAX_JUMP_MM and 1 / MAX_AREA_RATIO <= ratio <= MAX_AREA_RATIO
    return accepted


def _moved(source: _Slice, centre: np.ndarray) -> _Slice:
    """``source``'s mask shifted (whole voxels) so that its centre lies at ``centre``."""
    shift = np.round(centre - source.centre).astype(int)
    mask = ndimage.shift(source.mask.astype(np.uint8), shift, order=0, mode="constant").astype(bool)
    return _Slice(mask, source.centre + shift, float(source.area_mm2))
