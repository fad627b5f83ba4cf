"""Reading NIfTI images and masks with clear errors, and reorienting them to and from RPI.

Every function here either returns valid data or raises :class:`sclesion.core.errors.InputError` naming the file
and the problem in one line; no nibabel, gzip or numpy traceback reaches the user.

Orientation names
-----------------
The Spinal Cord Toolbox (SCT) names an orientation by where each axis comes *from*: "RPI" means axis 0
runs from right to left, axis 1 from posterior to anterior, axis 2 from inferior to superior. nibabel names
axes by where they point *to*, so SCT's "RPI" is nibabel's axis codes ``("L", "A", "S")``. This module
speaks nibabel's language; :data:`sclesion.core.conventions.RPI` holds the codes. Arrays are indexed
``[i, j, k]`` = ``[axis 0, axis 1, axis 2]``; affines map voxel indices to world (scanner RAS+) coordinates in mm.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations as ornt_mod

from sclesion.core.conventions import RPI
from sclesion.core.errors import InputError


#: Largest difference (in mm, per affine entry) for two images to count as sharing one voxel grid.
AFFINE_ATOL_MM: float = 1e-3

# What reading a broken, truncated, empty or foreign file raises inside nibabel, gzip, struct and numpy is
# not a closed list (EOFError, zlib.error, struct.error, HeaderDataError, ValueError, TypeError, ...): every
# exception raised while parsing a file is a read error of that file. Memory exhaustion is not.
_READ_ERRORS = (Exception,)
_NOT_READ_ERRORS = (MemoryError,)

#: Mask kinds :func:`load_checked` knows, with the values each may hold.
MASK_VALUES: dict[str, tuple[int, ...]] = {"mask": (0, 1), "labels": (0, 1, 2)}


def nifti_stem(path: str | Path) -> str:
    """A file's name without its ``.nii.gz`` or ``.nii`` extension (the whole name when it has neither)."""
    name = Path(path).name
    for extension in (".nii.gz", ".nii"):
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def load_nifti(path: str | Path, in_memory: bool = False) -> nib.Nifti1Image:
    """Open a 3D NIfTI file (header only, unless ``in_memory``; the voxel data stay on disk until asked for).

    A 4D file holding a single volume (shape ``(X, Y, Z, 1)``) is accepted and squeezed to 3D.

    Parameters
    ----------
    path : str or Path
        A ``.nii`` or ``.nii.gz`` file.
    in_memory : bool, default False
        Read and decompress the whole file at once (about twice as fast as nibabel's streamed reading for
        the small, highly compressible masks of this project).

    Returns
    -------
    nibabel.Nifti1Image
        The image, 3D.

    Raises
    ------
    InputError
        If the file is missing, not a readable NIfTI file, or not 3D.
    """
    path = Path(path)
    img = _open(path, in_memory)
    if not isinstance(img, nib.Nifti1Image):  # Nifti2Image subclasses Nifti1Image
        raise InputError(f"not a NIfTI image (nibabel read it as {type(img).__name__})", path)
    return as_3d(img, path)


def as_3d(img, name: str | Path):
    """The image as 3D: a 4D image holding a single volume ``(X, Y, Z, 1)`` is squeezed.

    Raises
    ------
    InputError
        If ``img`` is not a nibabel image or not 3D after squeezing (``name`` says which image).
    """
    if not isinstance(img, nib.spatialimages.SpatialImage):
        raise InputError(f"expected a nibabel image, got {type(img).__name__}", name)
    if img.ndim == 4 and img.shape[3] == 1:
        img = nib.funcs.squeeze_image(img)
    if img.ndim != 3:
        raise InputError(f"image is {img.ndim}D with shape {tuple(img.shape)}; expected a 3D volume", name)
    return img


def read_data(img: nib.Nifti1Image, path: str | Path, dtype=np.float32) -> np.ndarray:
    """Read the voxel data of an opened image, scaled by its header's slope and intercept.

    Parameters
    ----------
    img : nibabel.Nifti1Image
        An image opened by :func:`load_nifti`.
    path : str or Path
        The image's file, named in errors.
    dtype : numpy dtype, default float32
        Output dtype. Use the file's own dtype by passing ``None``.

    Returns
    -------
    numpy.ndarray
        Array of shape ``img.shape``, axes in the file's voxel order.

    Raises
    ------
    InputError
        If the data cannot be read (truncated or corrupt file) or hold NaN or infinite values.
    """
    try:
        data = np.asanyarray(img.dataobj)
    except _NOT_READ_ERRORS:
        raise
    except _READ_ERRORS as err:
        raise InputError(f"cannot read voxel data; truncated or corrupt file? ({_describe(err)})", path) from None
    data = data.reshape(img.shape)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            n_nan = int(np.isnan(data).sum())
            raise InputError(
                f"{int(bad.sum())} non-finite voxel values ({n_nan} NaN, {int(bad.sum()) - n_nan} infinite)", path
            )
    return data


def load_image(path: str | Path, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Load a 3D NIfTI file as ``(data, affine)`` after checking it (see :func:`load_nifti`, :func:`read_data`).

    Returns
    -------
    data : numpy.ndarray
        Voxel values, shape ``(X, Y, Z)`` in the file's voxel order, ``dtype`` (default float32).
    affine : numpy.ndarray
        4x4 voxel-to-world (RAS+, mm) matrix, float64.
    """
    img = load_nifti(path)
    return read_data(img, path, dtype), img.affine.copy()


def load_mask(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load a binary mask as ``(data, affine)`` with ``data`` uint8 in {0, 1}.

    Float files are accepted when they hold only 0 and 1.

    Raises
    ------
    InputError
        As :func:`load_image`, or if the mask holds a value other than 0 and 1.
    """
    img = load_nifti(path)
    data = read_data(img, path, dtype=None)
    check_binary(data, path)
    return data.astype(np.uint8, copy=False), img.affine.copy()


def check_binary(data: np.ndarray, path: str | Path, allowed: tuple[int, ...] = (0, 1)) -> None:
    """Raise :class:`InputError` unless every value of ``data`` is one of ``allowed`` (default 0 and 1; any dtype).

    The message lists the distinct values found (at most eight), e.g. ``mask is not binary (values 0, 0.5, 1)``
    or, for a label map, ``not a region label map of 0, 1, 2 (values 0, 1, 3)``.
    """
    if data.dtype == bool:
        return
    low, high = min(allowed), max(allowed)
    contiguous = tuple(allowed) == tuple(range(low, high + 1))
    if contiguous and data.dtype.kind in "ui" and data.size and data.min() >= low and data.max() <= high:
        return
    if np.isin(data, allowed).all():
        return
    values = np.unique(data)
    shown = ", ".join(f"{v:g}" for v in values[:8]) + (f", ... ({values.size} distinct)" if values.size > 8 else "")
    what = "mask is not binary" if tuple(allowed) == (0, 1) else (
        f"not a region label map of {', '.join(map(str, allowed))}")
    raise InputError(f"{what} (values {shown})", path)


def load_checked(path: str | Path, kind: str = "image") -> nib.Nifti1Image:
    """Open a 3D NIfTI file with its voxel data read and checked in memory.

    The returned image's ``dataobj`` is the checked array, so code that reads it never touches the file again.

    Parameters
    ----------
    path : str or Path
        A ``.nii`` or ``.nii.gz`` file.
    kind : {"image", "mask", "labels"}
        ``image``: finite values, float32. ``mask``: values 0 and 1 only, uint8. ``labels``: a region label
        map, values 0, 1 (cord) and 2 (lesion) only, uint8.

    Raises
    ------
    InputError
        As :func:`load_nifti` and :func:`read_data`; for masks, a value outside :data:`MASK_VALUES`.
    """
    return _checked(load_nifti(path, in_memory=True), path, kind)


def _checked(img: nib.Nifti1Image, path, kind: str) -> nib.Nifti1Image:
    """``img`` with its data read, checked for ``kind`` (see :func:`load_checked`) and held in memory."""
    if kind == "image":
        data = read_data(img, path)
    elif kind in MASK_VALUES:
        data = read_data(img, path, dtype=None)
        check_binary(data, path, MASK_VALUES[kind])
        data = data.astype(np.uint8, copy=False)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    out = nib.Nifti1Image(data, img.affine, img.header)
    out.set_data_dtype(data.dtype)
    out.header.set_slope_inter(1, 0)
    out.set_filename(str(path))
    return out


def load_field(path: str | Path) -> nib.Nifti1Image:
    """Open a warping field: a readable NIfTI file of shape ``(X, Y, Z, 1, 3)`` or ``(X, Y, Z, 3)``, finite.

    The returned image's ``dataobj`` is the checked float32 array (see
    :mod:`sclesion.preprocessing.straightening.warp` for the convention).

    Raises
    ------
    InputError
        If the file is missing or unreadable, has another shape, or holds NaN or infinite displacements.
    """
    path = Path(path)
    img = _open(path, in_memory=True)
    shape = img.shape
    if not (len(shape) == 5 and shape[3:] == (1, 3) or len(shape) == 4 and shape[3] == 3):
        raise InputError(f"not a warping field: shape {shape}; expected (X, Y, Z, 1, 3) displacements in mm", path)
    return _checked(img, path, "image")


def check_grid(img: nib.Nifti1Image, path, reference: nib.Nifti1Image, reference_name: str,
               atol_mm: float = AFFINE_ATOL_MM) -> None:
    """Raise :class:`InputError` naming ``path`` unless ``img`` lies on the grid of ``reference``.

    The message says which differs: ``shape (..) differs from <reference_name>'s shape (..)`` or ``affine
    differs from <reference_name>'s by up to X mm``. Only the first three axes are compared.
    """
    if tuple(img.shape[:3]) != tuple(reference.shape[:3]):
        raise InputError(
            f"shape {tuple(img.shape[:3])} differs from {reference_name}'s shape {tuple(reference.shape[:3])}", path
        )
    if not affines_match(img.affine, reference.affine, atol_mm):
        diff = float(np.abs(img.affine - reference.affine).max())
        raise InputError(
            f"affine differs from {reference_name}'s by up to {diff:.4g} mm (tolerance {atol_mm:g} mm)", path
        )


def affines_match(a: np.ndarray, b: np.ndarray, atol_mm: float = AFFINE_ATOL_MM) -> bool:
    """True when two 4x4 affines agree entry by entry within ``atol_mm`` (mm)."""
    return bool(np.allclose(a, b, rtol=0.0, atol=atol_mm))


def validate_pair(image_path: str | Path, mask_path: str | Path, atol_mm: float = AFFINE_ATOL_MM) -> None:
    """Check that a mask belongs to an image; raise one :class:`InputError` for the first problem found.

    Checks, in order: both files readable NIfTI and 3D; image values finite; mask shape equal to the image
    shape; affines equal within ``atol_mm`` mm per entry; mask values finite and binary {0, 1} (a float
    file holding only 0 and 1 is fine).

    Parameters
    ----------
    image_path, mask_path : str or Path
        The image and its label (cord or lesion mask).
    atol_mm : float, default :data:`AFFINE_ATOL_MM` (0.001 mm)
        Tolerance on every affine entry.

    Raises
    ------
    InputError
        Naming the offending file, e.g. ``...lesion-manual.nii.gz: mask is not binary (values 0, 0.5, 1)``.
    """
    image = load_nifti(image_path)
    read_data(image, image_path)
    validate_mask_against(image, mask_path, atol_mm)


def validate_mask_against(image: nib.Nifti1Image, mask_path: str | Path, atol_mm: float = AFFINE_ATOL_MM,
                          kind: str = "mask") -> nib.Nifti1Image:
    """Check a mask file against an already opened (and checked) image; see :func:`validate_pair`.

    Returns
    -------
    nibabel.Nifti1Image
        The mask, its checked data in memory (see :func:`load_checked`).
    """
    mask = load_nifti(mask_path, in_memory=True)
    check_grid(mask, mask_path, image, "the image", atol_mm)
    return _checked(mask, mask_path, kind)


# --- orientation -----------------------------------------------------------------------------------------


def axcodes(affine: np.ndarray) -> tuple[str, str, str]:
    """nibabel axis codes of an affine, e.g. ``("L", "A", "S")`` for SCT's RPI."""
    return tuple(nib.aff2axcodes(affine))


def reorient(
    data: np.ndarray, affine: np.ndarray, target: tuple[str, str, str] | str = RPI
) -> tuple[np.ndarray, np.ndarray]:
    """Flip and permute the axes of ``data`` so that they point along ``target`` (nibabel axis codes).

    Only flips and axis permutations are applied (no resampling), so values are untouched and
    ``reorient(*reorient(d, a, RPI), axcodes(a))`` returns ``d`` and ``a`` exactly.

    Parameters
    ----------
    data : numpy.ndarray
        Shape ``(X, Y, Z)`` or ``(X, Y, Z, ...)``; only the first three axes are reoriented.
    affine : numpy.ndarray
        4x4 voxel-to-world matrix of ``data``.
    target : tuple of str or str, default :data:`RPI`
        Axis codes to reach, e.g. ``("L", "A", "S")`` or ``"LAS"``.

    Returns
    -------
    data : numpy.ndarray
        A view of the input (no copy) with reordered axes.
    affine : numpy.ndarray
        The matching 4x4 affine: the same voxel centres map to the same world points.
    """
    start = ornt_mod.io_orientation(affine)
    goal = ornt_mod.axcodes2ornt(tuple(target))
    transform = ornt_mod.ornt_transform(start, goal)
    new_data = ornt_mod.apply_orientation(data, transform)
    new_affine = affine @ ornt_mod.inv_ornt_aff(transform, data.shape[:3])
    return new_data, new_affine


def to_rpi(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient to RPI (nibabel ``("L", "A", "S")``); see :func:`reorient`."""
    return reorient(data, affine, RPI)


def from_rpi(
    data: np.ndarray, affine: np.ndarray, original_affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bring RPI data back to the orientation of ``original_affine`` (e.g. a prediction to its input's grid).

    Returns
    -------
    data, affine
        ``data`` with the original axis order; the affine equals ``original_affine`` up to rounding.
    """
    return reorient(data, affine, axcodes(original_affine))


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths in mm along axes 0, 1, 2 (the column norms of the affine's 3x3 part)."""
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))


def voxel_sizes_rpi(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths in mm in RPI axis order (R-L, P-A, I-S), without loading any data."""
    ornt = ornt_mod.io_orientation(affine)  # ornt[i, 0]: world axis that voxel axis i is nearest to
    sizes = voxel_sizes(affine)
    out = np.empty(3)
    out[ornt[:, 0].astype(int)] = sizes
    return out


def shape_rpi(shape: tuple[int, ...], affine: np.ndarray) -> tuple[int, int, int]:
    """Array shape in RPI axis order (R-L, P-A, I-S) of an image with this shape and affine."""
    ornt = ornt_mod.io_orientation(affine)
    out = [0, 0, 0]
    for axis, world in enumerate(ornt[:, 0].astype(int)):
        out[world] = int(shape[axis])
    return tuple(out)


def _open(path: Path, in_memory: bool):
    """Open any image file nibabel reads, or raise one :class:`InputError` saying why it cannot be read."""
    if not path.exists():
        raise InputError("file not found", path)
    if not path.is_file():
        raise InputError("not a file (is it a folder?)", path)
    img = _from_bytes(path) if in_memory else None
    if img is not None:
        img.set_filename(str(path))
        return img
    try:
        return nib.load(path)
    except _NOT_READ_ERRORS:
        raise
    except _READ_ERRORS as err:
        raise InputError(f"cannot read as NIfTI ({_describe(err)})", path) from None


def _from_bytes(path: Path) -> nib.Nifti1Image | None:
    """The image read whole and decompressed in one call, or None when that fails (nibabel then says why)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic number
            raw = gzip.decompress(raw)
        return nib.Nifti1Image.from_bytes(raw)
    except _NOT_READ_ERRORS:
        raise
    except _READ_ERRORS:
        return None


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
