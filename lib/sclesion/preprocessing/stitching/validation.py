"""Checking stitched sessions: lesion counts before and after (any dataset), and errors against the synthetic truth.

Lesion counts (paper 2.5.3): the chunks of a session are counted separately and summed (a lesion in an
overlap counts once per chunk holding it), the stitched lesion mask once; components by 6-connectivity, as
:func:`sclesion.evaluation.lesions.count_lesions`. The paper found 450 lesions in the 378 chunks and 448 in the 126
stitched images of its TUM test set.

Truth (synthetic cohorts only): :func:`sclesion.data.synthetic.render_truth` renders the session's true image and
masks on the stitched grid with the rule that rendered the chunks. Where the chunks do not share the stitched
grid, their masks must be resampled, which costs Dice on its own (a voxel-sized shift of a thresholded
partial-volume mask), so cord Dice is given in the overlaps (where stitching blends) and elsewhere (where
each voxel comes from a single resampled chunk, the resampling floor).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from sclesion.core.nifti import load_image, load_mask, load_nifti
from sclesion.evaluation.lesions import count_lesions
from sclesion.evaluation.metrics import dice
from sclesion.preprocessing.stitching.grid import OutputGrid, footprint, voxel_sizes
from sclesion.preprocessing.stitching.resample import resample

#: Voxels whose true signal exceeds this fraction of the cord signal count as inside the body.
_BODY_FRACTION: float = 0.1


def coverage_count(affine: np.ndarray, shape: tuple[int, int, int], chunks: list[nib.Nifti1Image]) -> np.ndarray:
    """Number of chunks covering each voxel centre of the grid ``(affine, shape)`` (uint8, ``shape``)."""
    grid = OutputGrid(affine=np.asarray(affine, dtype=float), shape=tuple(shape), spacing=voxel_sizes(affine),
                      reference=-1)
    count = np.zeros(shape, dtype=np.uint8)
    for chunk in chunks:
        piece = resample(np.ones(chunk.shape[:3], dtype=np.uint8), footprint(grid, chunk.affine, chunk.shape), True)
        count[piece.box] += piece.values
    return count


def lesion_counts(chunk_lesions: list[str | Path], stitched_lesion: str | Path) -> dict[str, int]:
    """Lesions (6-connected components) summed over the chunks, and in the stitched mask.

    Returns
    -------
    dict
        ``chunked`` and ``stitched`` counts.
    """
    chunked = sum(count_lesions(load_mask(path)[0]) for path in chunk_lesions)
    return {"chunked": int(chunked), "stitched": count_lesions(load_mask(stitched_lesion)[0])}


def truth_errors(bids_root: str | Path, subject: str, session: str, chunk_images: list[str | Path],
                 stitched: dict[str, str | Path]) -> dict[str, float]:
    """Stitched image and masks of a synthetic session against its truth on the stitched grid.

    Parameters
    ----------
    bids_root : str or Path
        The synthetic cohort.
    subject, session : str
        E.g. ``"sub-tum001"``, ``"ses-20160102"``.
    chunk_images : list of str or Path
        The session's chunk images (for the chunks' own errors and the overlap map).
    stitched : dict
        Paths of the stitched ``image``, ``cord`` and ``lesion``.

    Returns
    -------
    dict
        ``cord_dice`` (whole stitched mask), ``cord_dice_overlap`` (voxels covered by two or more chunks),
        ``cord_dice_single`` (voxels covered by one chunk), ``lesion_dice``; ``mae_stitched`` and
        ``mae_chunks``: mean absolute intensity error inside the body, relative to the median true cord
        signal, of the stitched image and of the chunks on their own grids (bias field and noise, the
        baseline that stitching should not worsen); ``true_lesions`` counted on the stitched grid.
    """
    from sclesion.data.synthetic import render_truth

    image, affine = load_image(stitched["image"])
    truth = render_truth(bids_root, subject, session, affine, image.shape)
    cord = load_mask(stitched["cord"])[0] > 0
    lesion = load_mask(stitched["lesion"])[0] > 0
    true_cord, true_lesion = truth.cord > 0, truth.lesion > 0
    chunks = [load_nifti(path) for path in chunk_images]
    overlap = coverage_count(affine, image.shape, chunks) >= 2
    cord_signal = float(np.median(truth.image[true_cord]))
    body = (image != 0) & (truth.image > _BODY_FRACTION * cord_signal)
    chunk_error, chunk_voxels = 0.0, 0
    for path in chunk_images:
        data, chunk_affine = load_image(path)
        chunk_truth = render_truth(bids_root, subject, session, chunk_affine, data.shape).image
        inside = chunk_truth > _BODY_FRACTION * cord_signal
        chunk_error += float(np.abs(data - chunk_truth)[inside].sum())
        chunk_voxels += int(inside.sum())
    return {
        "cord_dice": dice(cord, true_cord),
        "cord_dice_overlap": dice(cord[overlap], true_cord[overlap]),
        "cord_dice_single": dice(cord[~overlap], true_cord[~overlap]),
        "lesion_dice": dice(lesion, true_lesion),
        "mae_stitched": float(np.abs(image - truth.image)[body].mean()) / cord_signal,
        "mae_chunks": chunk_error / max(chunk_voxels, 1) / cord_signal,
        "true_lesions": count_lesions(true_lesion),
    }


def validate_sessions(stitched: pd.DataFrame, bids_root: str | Path, synthetic: bool) -> pd.DataFrame:
    """Lesion counts (and, for a synthetic cohort, errors against the truth) of every stitched session.

    Parameters
    ----------
    stitched : pandas.DataFrame
        The table of :func:`sclesion.preprocessing.stitching.bids.stitch_dataset` (paths of the stitched outputs).
    bids_root : str or Path
        The dataset the chunks come from.
    synthetic : bool
        Add the columns of :func:`truth_errors`.

    Returns
    -------
    pandas.DataFrame
        One row per session: participant_id, session, chunked and stitched lesion counts, and the truth
        columns when ``synthetic``.
    """
    from sclesion.data.bids import discover

    chunks = discover(bids_root)
    rows = []
    for record in stitched.itertuples(index=False):
        mine = chunks[(chunks["participant_id"] == record.participant_id) & (chunks["session"] == record.session)
                      & chunks["chunk"].notna()].sort_values("chunk")
        row = {"participant_id": record.participant_id, "session": record.session}
        if record.lesion is not None and not pd.isna(record.lesion):
            row.update(lesion_counts(list(mine["lesion"]), record.lesion))
        if synthetic:
            paths = {"image": record.image, "cord": record.cord, "lesion": record.lesion}
            row.update(truth_errors(bids_root, record.participant_id, record.session, list(mine["image"]), paths))
        rows.append(row)
    return pd.DataFrame(rows)
