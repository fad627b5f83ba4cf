"""Unstitching: a whole-spine label map resampled back onto the grid of each chunk of its session.

A model trained on stitched images predicts one whole-spine label map per session; to score it per chunk,
like the chunk-based models (paper Fig 5), its prediction is brought back onto each chunk's own grid.
Every chunk voxel centre is mapped through the affines (chunk indices -> world RAS+ mm -> stitched indices)
and takes the label of the nearest stitched voxel; chunk voxels whose centre lies outside the stitched
image (more than half a voxel beyond its outermost voxel centres) get 0. Nothing is interpolated between
labels. When a chunk shares the stitched grid's voxel lattice (same orientation and spacing, whole-voxel
offset: the chunks of one session in this study, :mod:`sclesion.preprocessing.stitching.grid`), every chunk
voxel centre is a stitched voxel centre and unstitching copies voxels.

Public API: :func:`unstitch_labels` (arrays), :func:`unstitch_images` (nibabel images) and
:func:`unstitch_files` (files: one ``<chunk image stem>.nii.gz`` label map per chunk, the name
:mod:`sclesion.evaluation.evaluate` pairs with the chunk's reference; written atomically, skipped when up to
date). Arrays are indexed ``[i, j, k]`` like their affines.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from sclesion.core.atomic import save_nifti
from sclesion.core.errors import InputError
from sclesion.core.nifti import as_3d, load_nifti, nifti_stem, read_data
from sclesion.core.provenance import OutputSet
from sclesion.preprocessing.stitching.grid import VOXEL_TOL
from sclesion.preprocessing.stitching.stitch import check_same_session


def unstitch_labels(stitched: np.ndarray, stitched_affine: np.ndarray, chunk_affine: np.ndarray,
                    chunk_shape: tuple[int, int, int]) -> np.ndarray:
    """Resample a stitched label map onto one chunk's grid (nearest neighbour in world coordinates).

    Parameters
    ----------
    stitched : numpy.ndarray
        The whole-spine label map, shape ``(X, Y, Z)``, any dtype (values are copied, never mixed).
    stitched_affine, chunk_affine : numpy.ndarray
        4x4 voxel-to-world matrices (mm) of the stitched map and of the chunk.
    chunk_shape : tuple of int
        The chunk's array shape ``(n0, n1, n2)``.

    Returns
    -------
    numpy.ndarray
        Shape ``chunk_shape``, dtype of ``stitched``: the label of the stitched voxel nearest to each chunk
        voxel centre, 0 where that centre lies outside the stitched image.
    """
    labels, _ = _unstitch(np.asarray(stitched), _to_stitched(stitched_affine, chunk_affine), chunk_shape)
    return labels


def unstitch_images(stitched: nib.Nifti1Image, chunks: list[nib.Nifti1Image]) -> list[nib.Nifti1Image]:
    """Resample a stitched label map onto each chunk's grid (see :func:`unstitch_labels`).

    Parameters
    ----------
    stitched : nibabel.Nifti1Image
        The whole-spine label map (3D; integer labels >= 0, stored as integers or as whole floats).
    chunks : list of nibabel.Nifti1Image
        The chunks of the same session; only their shapes and affines are used (no voxel data read).

    Returns
    -------
    list of nibabel.Nifti1Image
        One label map per chunk, on the chunk's shape and affine (qform and sform, scanner coordinates),
        integer dtype (``uint8`` for labels up to 255).

    Raises
    ------
    InputError
        If the stitched map is not 3D, holds negative or non-integer values, or a chunk is not 3D or lies
        entirely outside the stitched image (a chunk of another session?).
    """
    name = _name_of(stitched, "stitched label map")
    labels = _as_labels(read_data(as_3d(stitched, name), name, dtype=None), name)
    out = []
    for index, chunk in enumerate(chunks):
        chunk_name = _name_of(chunk, f"chunk {index + 1}")
        chunk = as_3d(chunk, chunk_name)
        data, n_inside = _unstitch(labels, _to_stitched(stitched.affine, chunk.affine), chunk.shape)
        if n_inside == 0:
            raise InputError(f"lies entirely outside the stitched label map {name}; is it from another session?",
                             chunk_name)
        out.append(_label_image(data, chunk.affine))
    return out


def unstitch_files(stitched_path: str | Path, chunk_images: list[str | Path], out_folder: str | Path) -> list[Path]:
    """Write a stitched label map resampled onto each chunk, as ``<out_folder>/<chunk image stem>.nii.gz``.

    Outputs are written atomically; when every output's provenance record matches the stitched map and the
    chunk images (:mod:`sclesion.core.provenance`), nothing is read or written.

    Parameters
    ----------
    stitched_path : str or Path
        The whole-spine label map (``.nii`` or ``.nii.gz``), e.g. a stitched model's prediction.
    chunk_images : list of str or Path
        The chunk images of the same session (``sub-``/``ses-`` entities, where present, must agree with
        the stitched map's); their grids are used, not their voxels.
    out_folder : str or Path
        Folder of the outputs (created).

    Returns
    -------
    list of Path
        The output label maps, in the order of ``chunk_images``.

    Raises
    ------
    InputError
        If no chunk is given, two chunks share a name, names carry different subjects or sessions, a file is
        missing or unreadable, or see :func:`unstitch_images`.
    """
    stitched_path = Path(stitched_path)
    chunk_images = [Path(p) for p in chunk_images]
    if not chunk_images:
        raise InputError("no chunk images to unstitch onto: pass at least one", stitched_path)
    check_same_session([stitched_path, *chunk_images])
    outputs = [Path(out_folder) / f"{nifti_stem(p)}.nii.gz" for p in chunk_images]
    if len(set(outputs)) < len(outputs):
        raise InputError("two chunk images share a name; their outputs would collide", chunk_images[0])
    inputs = {"stitched": stitched_path, **{f"chunk {k + 1}": p for k, p in enumerate(chunk_images)}}
    output_set = OutputSet("unstitch", outputs, inputs)
    if output_set.status() == "current":
        return outputs
    images = unstitch_images(load_nifti(stitched_path), [load_nifti(p) for p in chunk_images])
    with output_set.writing():
        for image, output in zip(images, outputs):
            save_nifti(image, output)
    return outputs


def _to_stitched(stitched_affine: np.ndarray, chunk_affine: np.ndarray) -> np.ndarray:
    """4x4 matrix mapping chunk voxel indices to (fractional) stitched voxel indices."""
    return np.linalg.inv(np.asarray(stitched_affine, dtype=float)) @ np.asarray(chunk_affine, dtype=float)


def _unstitch(stitched: np.ndarray, to_stitched: np.ndarray, chunk_shape) -> tuple[np.ndarray, int]:
    """Nearest-neighbour lookup, one chunk slice (last axis) at a time; returns the labels and how many chunk
    voxel centres fell inside the stitched image."""
    n0, n1, n2 = (int(n) for n in chunk_shape[:3])
    matrix, shift = to_stitched[:3, :3], to_stitched[:3, 3]
    # stitched coordinates of the chunk voxels (i, j, 0), shape (3, n0, n1); slice k adds k * matrix[:, 2]
    first = (matrix[:, 0, None, None] * np.arange(n0)[None, :, None]
             + matrix[:, 1, None, None] * np.arange(n1)[None, None, :] + shift[:, None, None])
    size = np.asarray(stitched.shape, dtype=float)[:, None, None]
    upper = np.asarray(stitched.shape, dtype=np.intp)[:, None, None] - 1
    out = np.zeros((n0, n1, n2), dtype=stitched.dtype)
    n_inside = 0
    for k in range(n2):
        coords = first + k * matrix[:, 2, None, None]
        inside = np.all((coords >= -0.5 - VOXEL_TOL) & (coords <= size - 0.5 + VOXEL_TOL), axis=0)
        nearest = np.clip(np.floor(coords + 0.5).astype(np.intp), 0, upper)
        out[:, :, k] = np.where(inside, stitched[nearest[0], nearest[1], nearest[2]], 0)
        n_inside += int(inside.sum())
    return out, n_inside


def _name_of(img, default: str) -> str:
    """The file an image was loaded from, else ``default``."""
    filename = img.get_filename() if hasattr(img, "get_filename") else None
    return filename or default


def _as_labels(data: np.ndarray, name: str) -> np.ndarray:
    """The label map as integers (``uint8`` when the labels fit), or :class:`InputError` if it is not one."""
    if data.dtype == bool:
        return data.astype(np.uint8)
    if data.size and (data.min() < 0 or (data.dtype.kind == "f" and not np.array_equal(data, np.round(data)))):
        raise InputError("a label map must hold whole labels >= 0; is it an image or a probability map?", name)
    if data.dtype.kind in "ui" and data.dtype.itemsize == 1:
        return data.astype(np.uint8, copy=False)
    return data.astype(np.uint8 if data.max(initial=0) <= 255 else np.int32)


def _label_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A label map on a chunk's grid, in scanner coordinates like the chunk."""
    image = nib.Nifti1Image(data, affine)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    return image
