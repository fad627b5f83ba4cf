"""Stacking the chunks of one session into a single volume before computing metrics (paper Algorithm 1, Fig 4).

Why stack? Averaging a lesion-wise score over chunks weighs a chunk with one lesion as much as a chunk with
ten. In the paper's Fig 4 the chunk recalls 1/2, 1 and 1 average to 0.833, while the session's recall is
3/4 = 0.75. Stacking computes every metric once per session, over all its lesions.

Algorithm 1, for prediction and reference alike: sort the chunks 1, 2, 3; zero-pad each at the *end* of every
axis to the per-axis maximum shape; concatenate along the superior-inferior axis (axis 2 of arrays in RPI
orientation, see :mod:`sclesion.core.nifti`). Because every chunk is padded to the same shape, chunk ``k`` occupies
slices ``(k - 1) * Z_max`` to ``(k - 1) * Z_max + Z_k`` along axis 2. As in the paper, no gap is inserted, so a
lesion cut by the top slice of one chunk and one in the bottom slice of the next would touch; chunks are
stacked cervical first, at the low end of axis 2.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sclesion.core.errors import InputError

#: The superior-inferior axis of arrays in RPI orientation.
SI_AXIS: int = 2


def pad_to_shape(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-pad ``array`` at the end of each axis up to ``shape`` (no axis may be longer than ``shape``)."""
    widths = [(0, target - size) for size, target in zip(array.shape, shape)]
    if any(after < 0 for _, after in widths):
        raise InputError(f"cannot pad shape {array.shape} to the smaller shape {tuple(shape)}")
    return np.pad(array, widths)


def stack_chunks(
    chunks: Mapping[int, np.ndarray], shape: tuple[int, ...] | None = None, axis: int = SI_AXIS
) -> np.ndarray:
    """Stack the chunks of one session: sort by chunk number, pad to a common shape, concatenate along ``axis``.

    Parameters
    ----------
    chunks : mapping of int to numpy.ndarray
        Chunk number (1 cervical, 2 thoracic, 3 lumbar) -> 3D array in RPI orientation.
    shape : tuple of int, optional
        Shape to pad every chunk to; by default the per-axis maximum over ``chunks``.
    axis : int, default 2
        Concatenation axis (the superior-inferior axis in RPI).

    Returns
    -------
    numpy.ndarray
        Shape ``shape`` except ``len(chunks) * shape[axis]`` along ``axis``; the dtype of the chunks.
    """
    if not chunks:
        raise InputError("no chunks to stack")
    ordered = [chunks[number] for number in sorted(chunks)]
    if len({a.ndim for a in ordered}) != 1:
        raise InputError(f"chunks have different dimensions: {[a.ndim for a in ordered]}")
    if shape is None:
        shape = tuple(np.max([a.shape for a in ordered], axis=0))
    return np.concatenate([pad_to_shape(a, shape) for a in ordered], axis=axis)


def stack_pair(
    pred: Mapping[int, np.ndarray], ref: Mapping[int, np.ndarray], name: str = "session"
) -> tuple[np.ndarray, np.ndarray]:
    """Stack the predicted and the reference chunks of one session on one common grid.

    Parameters
    ----------
    pred, ref : mapping of int to numpy.ndarray
        Chunk number -> mask in RPI orientation, for the prediction and the reference.
    name : str, default "session"
        Names the session in error messages, e.g. ``"sub-tum001_ses-20200101"``.

    Returns
    -------
    pred, ref : numpy.ndarray
        The stacked prediction and reference, of equal shape.

    Raises
    ------
    InputError
        If a chunk is present on one side only, or a chunk's prediction and reference shapes differ.
    """
    check_chunks(pred, ref, name)
    for number in sorted(ref):
        if pred[number].shape != ref[number].shape:
            raise InputError(
                f"chunk {number}: prediction shape {pred[number].shape} differs from reference shape "
                f"{ref[number].shape}",
                name,
            )
    shape = tuple(np.max([a.shape for a in ref.values()], axis=0))
    return stack_chunks(pred, shape), stack_chunks(ref, shape)


def check_chunks(pred, ref, name: str = "session") -> None:
    """Raise :class:`InputError` naming the chunks that only the prediction or only the reference has.

    Parameters
    ----------
    pred, ref : iterable of int
        Chunk numbers of the prediction and of the reference (e.g. the keys of the chunk mappings).
    name : str, default "session"
        Names the session in the message.
    """
    pred, ref = set(pred), set(ref)
    only_ref, only_pred = ref - pred, pred - ref
    if only_ref:
        raise InputError(f"no prediction for chunk {_numbers(only_ref)} (reference chunks: {_numbers(ref)})", name)
    if only_pred:
        raise InputError(f"no reference for chunk {_numbers(only_pred)} (predicted chunks: {_numbers(pred)})", name)


def _numbers(numbers) -> str:
    return ", ".join(str(n) for n in sorted(numbers))
