"""Blending resampled chunks: occupancy, ramp weights in the overlaps, and the weighted sum (or vote).

Ramp weights (Graf et al. 2024)
-------------------------------
Where several chunks cover an output voxel, chunk ``k`` gets the weight ``d_k``: the Euclidean distance (mm)
from the voxel to the nearest voxel covered by *other* chunks but not by ``k`` (the others' exclusive
region). Weights are normalised to sum to 1. For two slabs overlapping over ``m`` slices this is a linear
ramp: the ``s``-th overlap slice (1-based, counted from chunk A's side) gets ``(m + 1 - s) / (m + 1)`` for A.
With an odd ``m`` the middle slice ties at exactly 0.5.

Masks: weighted vote with ties kept
-----------------------------------
A mask voxel takes the label with the largest summed weight of the chunks voting for it; on a tie the larger
label wins (foreground over background, lesion 2 over cord 1). Where all covering chunks agree the result is
their common label, so a structure present in every chunk can never vanish in an overlap, and where they
disagree the mask changes sides where the image's ramp does, at the overlap's middle. We prefer this to the
union (maximum) of the chunks' masks, which would grow a structure wherever the chunks disagree (e.g. a
lesion outlined a little differently in the two chunks, or a slight misalignment): the union always
over-segments, the vote follows the same seam as the image. ``TPTBox.stitching`` instead rounds each chunk's
weighted mask separately, and ``round(0.5) == 0`` empties the tie slice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sclesion.preprocessing.stitching.resample import Piece

#: Weight used for a chunk that has no region to ramp away from (it covers everything its partners cover).
_FLAT = np.float32(1e6)

#: Votes closer than this count as tied (weights are float32 sums).
_TIE_TOL: float = 1e-6


@dataclass(frozen=True)
class OverlapWeights:
    """Normalised ramp weights over one overlap region.

    Attributes
    ----------
    box : tuple of slice
        Output index box (one slice per output axis) around the region where chunks overlap, padded by one
        voxel where the grid allows (so that it reaches into the chunks' exclusive regions).
    weights : numpy.ndarray
        float32, shape ``(n_chunks, *box shape)``, read-only (possibly a broadcast view); ``weights[k]`` is
        chunk ``k``'s weight (0 where ``k`` does not cover the voxel); the weights of covered voxels sum to 1.
    """

    box: tuple[slice, slice, slice]
    weights: np.ndarray


def overlap_boxes(shape: tuple[int, int, int], pieces: list[Piece]) -> list[tuple[slice, slice, slice]]:
    """Disjoint output index boxes that hold every voxel covered by two or more chunks.

    One box per pair of chunks whose footprints intersect (their intersection, padded by one voxel and
    clipped to the grid); boxes that intersect are merged into their bounding box.
    """
    boxes = []
    for a, b in itertools.combinations(pieces, 2):
        low = [max(x.start, y.start) - 1 for x, y in zip(a.box, b.box)]
        high = [min(x.stop, y.stop) + 1 for x, y in zip(a.box, b.box)]
        if all(h - l > 2 for l, h in zip(low, high)):
            boxes.append((np.maximum(low, 0), np.minimum(high, shape)))
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(boxes)), 2):
            (lo_i, hi_i), (lo_j, hi_j) = boxes[i], boxes[j]
            if np.all(np.maximum(lo_i, lo_j) < np.minimum(hi_i, hi_j)):
                boxes[i] = (np.minimum(lo_i, lo_j), np.maximum(hi_i, hi_j))
                del boxes[j]
                merged = True
                break
    return [tuple(slice(int(l), int(h)) for l, h in zip(lo, hi)) for lo, hi in boxes]


def ramp_weights(box: tuple[slice, slice, slice], pieces: list[Piece], spacing: np.ndarray) -> OverlapWeights:
    """Normalised ramp weights of every chunk over ``box`` (see the module docstring).

    Parameters
    ----------
    box : tuple of slice
        From :func:`overlap_boxes`.
    pieces : list of Piece
        The resampled chunks.
    spacing : numpy.ndarray
        Output voxel size in mm per axis (distances are measured in mm).
    """
    covers = np.stack([_in_box(piece, box) for piece in pieces])
    # Along an axis where no coverage changes (e.g. in-plane, for chunks with one field of view) every
    # distance is constant: compute on one voxel there and broadcast, which is exact and much cheaper.
    uniform = [a for a in range(3) if (covers == covers.take([0], axis=a + 1)).all()]
    reduced = covers[(slice(None), *[slice(0, 1) if a in uniform else slice(None) for a in range(3)])]
    union = reduced.any(axis=0)
    distances = np.zeros(reduced.shape, dtype=np.float32)
    for k, cover in enumerate(reduced):
        others_only = union & ~cover
        if not cover.any():
            continue
        if others_only.any():
            distances[k] = ndimage.distance_transform_edt(~others_only, sampling=spacing)
        else:
            distances[k] = _FLAT
        distances[k][~cover] = 0.0
    total = distances.sum(axis=0)
    np.divide(distances, total, out=distances, where=total > 0)
    return OverlapWeights(box=box, weights=np.broadcast_to(distances, covers.shape))


def blend_images(shape: tuple[int, int, int], pieces: list[Piece], overlaps: list[OverlapWeights]) -> np.ndarray:
    """Ramp-weighted sum of the resampled images (float32, ``shape``); 0 where no chunk covers a voxel."""
    out = np.zeros(shape, dtype=np.float32, order="F")  # NIfTI's voxel order: chunks read from files are F too
    for k, piece in enumerate(pieces):
        values = piece.values
        for region in overlaps:
            local, in_region = _intersection(piece.box, region.box)
            if local is not None:
                values = values if values is not piece.values else values.copy()
                values[local] *= region.weights[k][in_region]
        out[piece.box] += values
    return out


def blend_masks(shape: tuple[int, int, int], pieces: list[Piece], overlaps: list[OverlapWeights]) -> np.ndarray:
    """Stitched label map (uint8, ``shape``): each chunk's labels, and a weighted vote in each overlap box."""
    out = np.zeros(shape, dtype=np.uint8, order="F")  # NIfTI's voxel order: chunks read from files are F too
    for piece in pieces:
        target = out[piece.box]
        if piece.inside is None:
            target[...] = piece.values
        else:
            target[piece.inside] = piece.values[piece.inside]
    for region in overlaps:
        covered = region.weights.sum(axis=0) > 0
        out[region.box][covered] = _vote(region, pieces)[covered]
    return out


def _vote(region: OverlapWeights, pieces: list[Piece]) -> np.ndarray:
    """Label with the largest summed weight at each voxel of ``region.box``; the larger label wins ties."""
    chunk_labels = [_in_box(piece, region.box, values=True) for piece in pieces]
    labels = np.flatnonzero(sum(np.bincount(v.ravel(), minlength=256) for v in chunk_labels))
    best_vote = np.full(chunk_labels[0].shape, -1.0, dtype=np.float32)
    best_label = np.zeros(chunk_labels[0].shape, dtype=np.uint8)
    for label in labels:  # ascending, so a later (larger) label wins a tie
        vote = np.zeros(best_vote.shape, dtype=np.float32)
        for k, labels_k in enumerate(chunk_labels):
            vote += region.weights[k] * (labels_k == label)
        wins = vote >= best_vote - _TIE_TOL
        best_vote[wins] = vote[wins]
        best_label[wins] = label
    return best_label


def _in_box(piece: Piece, box: tuple[slice, slice, slice], values: bool = False) -> np.ndarray:
    """A piece's coverage (bool) or its values (0 outside it) cropped/padded to the output index ``box``."""
    shape = tuple(s.stop - s.start for s in box)
    out = np.zeros(shape, dtype=piece.values.dtype if values else bool)
    local, in_box = _intersection(piece.box, box)
    if local is None:
        return out
    if values:
        out[in_box] = piece.values[local]
    else:
        out[in_box] = True if piece.inside is None else piece.inside[local]
    return out


def _intersection(a: tuple[slice, ...], b: tuple[slice, ...]):
    """Slices of the intersection of output boxes ``a`` and ``b``, relative to ``a`` and to ``b`` (or None)."""
    starts = [max(x.start, y.start) for x, y in zip(a, b)]
    stops = [min(x.stop, y.stop) for x, y in zip(a, b)]
    if any(stop <= start for start, stop in zip(starts, stops)):
        return None, None
    rel_a = tuple(slice(s - x.start, e - x.start) for s, e, x in zip(starts, stops, a))
    rel_b = tuple(slice(s - y.start, e - y.start) for s, e, y in zip(starts, stops, b))
    return rel_a, rel_b
