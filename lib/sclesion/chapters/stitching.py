"""The stitching chapter (notebook ``02_stitching``; paper 2.2.1, Fig 2A-C): stitched sessions, views, checks.

=========================  ======================================================================
entry point                what it gives
=========================  ======================================================================
load_stitched              every multi-chunk TUM session stitched (the stitched native variant)
overlap_summary            one line: overlap between consecutive chunks, sessions with a gap
load_session               the session shown: its chunks and its stitched image (nibabel)
show_sagittal              Fig 2A-B: chunks pulled apart along S-I beside the stitched image
show_axial                 Fig 2C: an axial slice through a lesion in each chunk and the stitched one
grid_geometry              first/last slice of each chunk and of the stitched grid along S-I
show_ramp_weights          the normalised ramp weights through the overlaps
validation_summary         Dice and intensity errors against the synthetic truth (mean, min, max)
lesion_count_totals        lesions in the chunks and in the stitched images beside the paper's
=========================  ======================================================================

Lesions are counted with :func:`sclesion.evaluation.lesions.count_lesions` (6-connectivity), everywhere.
Figures are sized to the book's text column (:data:`sclesion.figures.slices.TEXT_WIDTH_IN`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclesion.core.errors import InputError
from sclesion.core.nifti import axcodes, load_mask
from sclesion.data import paper as paper_tables
from sclesion.data.bids import discover
from sclesion.evaluation.lesions import count_lesions
from sclesion.figures.slices import (
    PULL_APART_MM, TEXT_WIDTH_IN, axial_lesion_panel, cord_plane_mm, ramp_weights_plot, sagittal_mip_panel,
)
from sclesion.preprocessing.stitching.bids import stitch_dataset
from sclesion.preprocessing.stitching.stitch import StitchResult, stitch_images
from sclesion.preprocessing.variants import variant_root

def load_stitched(bids_root: str | Path, work_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Stitch every multi-chunk session of the TUM site (of every site, for a dataset without TUM).

    Outputs go to the stitched native variant (``<work_dir>/variants/stitched_native/``, shared with the
    training chapter); existing outputs are kept.

    Returns
    -------
    chunked : pandas.DataFrame
        The dataset's chunk rows (:func:`sclesion.data.bids.discover`).
    stitched : pandas.DataFrame
        :func:`sclesion.preprocessing.stitching.bids.stitch_dataset`'s table, one row per session.
    out_root : Path
        The stitched native variant's folder.
    """
    dataset = discover(bids_root)
    chunked = dataset[dataset["chunk"].notna()]
    tum = sorted(chunked.loc[chunked["site"] == "TUM", "participant_id"].unique())
    out_root = variant_root("stitched_native", bids_root, work_dir)
    stitched = stitch_dataset(bids_root, out_root, participants=tum or None, progress=False)
    return chunked, stitched, out_root


def overlap_summary(stitched: pd.DataFrame) -> str:
    """Median and range (mm) of the overlaps between consecutive chunks, and the sessions with a gap."""
    overlaps = np.concatenate([np.asarray(o, dtype=float) for o in stitched["overlap_mm"]])
    return (f"overlap between consecutive chunks: median {np.median(overlaps):.1f} mm "
            f"(range {overlaps.min():.1f}-{overlaps.max():.1f} mm); "
            f"sessions with a gap: {int((stitched['gap_mm'] > 0).sum())}")


@dataclass
class Session:
    """A stitched session: its chunks (in chunk order) and its stitched image and masks.

    Attributes
    ----------
    participant_id, session : str
    rows : pandas.DataFrame
        The chunks' dataset rows, sorted by chunk.
    chunks : list of dict
        Per chunk, ``image``, ``cord``, ``lesion`` (nibabel images) and ``chunk`` (int).
    whole : dict
        The stitched ``image``, ``cord``, ``lesion`` (nibabel images).
    x_mm : float
        World x (mm) of the sagittal plane through the stitched cord's centre of mass.
    n_lesions : int
        Lesions summed over the chunks.
    """

    participant_id: str
    session: str
    rows: pd.DataFrame
    chunks: list[dict]
    whole: dict
    x_mm: float
    n_lesions: int


def _chunk_rows(chunked: pd.DataFrame, participant_id: str, session: str) -> pd.DataFrame:
    rows = chunked[(chunked["participant_id"] == participant_id) & (chunked["session"] == session)]
    return rows.sort_values("chunk")


def load_session(chunked: pd.DataFrame, stitched: pd.DataFrame, subject: str = "") -> Session:
    """The session to show: the one named ``subject`` (participant id), else the one with most chunk lesions.

    Raises
    ------
    InputError
        If no stitched session belongs to ``subject``.
    """
    candidates = stitched if not subject else stitched[stitched["participant_id"] == subject]
    if candidates.empty:
        raise InputError(f"no stitched session for subject {subject!r}")
    counts = [sum(count_lesions(load_mask(p)[0]) for p in _chunk_rows(chunked, r.participant_id, r.session)["lesion"])
              for r in candidates.itertuples(index=False)]
    best = int(np.argmax(counts))
    shown = candidates.iloc[best]
    rows = _chunk_rows(chunked, shown["participant_id"], shown["session"])
    chunks = [{"image": nib.load(r.image), "cord": nib.load(r.cord), "lesion": nib.load(r.lesion),
               "chunk": int(r.chunk)}
              for r in rows.itertuples(index=False)]
    whole = {kind: nib.load(shown[kind]) for kind in ("image", "cord", "lesion")}
    return Session(shown["participant_id"], shown["session"], rows, chunks, whole, cord_plane_mm(whole["cord"]),
                   counts[best])


def show_sagittal(session: Session) -> Figure:
    """Fig 2A-B: the chunks' mid-sagittal slices pulled apart along S-I (A) beside the stitched image (B)."""
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 9.0), sharey=True)
    n = len(session.chunks)
    for k, chunk in enumerate(session.chunks):
        shift = (n - 1 - k) * PULL_APART_MM  # chunk 1 (cervical) on top
        sagittal_mip_panel(chunk["image"], chunk["lesion"], ax=axes[0], x_mm=session.x_mm, z_shift_mm=shift)
    axes[0].set_title(f"A  chunks 1-{n} (pulled apart by {PULL_APART_MM:.0f} mm)", fontsize=9)
    sagittal_mip_panel(session.whole["image"], session.whole["lesion"], ax=axes[1], x_mm=session.x_mm,
                       title="B  stitched")
    axes[1].set_ylabel("")
    fig.tight_layout()
    return fig


def show_axial(session: Session) -> Figure:
    """Fig 2C: each chunk holding a lesion on its slice with most lesion, then the stitched image's (2 columns)."""
    with_lesion = [c for c in session.chunks if np.asarray(c["lesion"].dataobj).any()]
    panels = [(c["image"], c["lesion"], c["cord"], f"C  chunk {c['chunk']}") for c in with_lesion]
    panels.append((session.whole["image"], session.whole["lesion"], session.whole["cord"], "stitched"))
    columns = min(len(panels), 2)
    rows = int(np.ceil(len(panels) / columns))
    width = min(TEXT_WIDTH_IN, 3.6 * columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width, 3.5 * rows), squeeze=False)
    for ax, (image, lesion, cord, title) in zip(axes.ravel(), panels):
        axial_lesion_panel(image, lesion, cord, ax=ax, title=title)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def grid_geometry(session: Session) -> tuple[pd.DataFrame, StitchResult, str]:
    """The stitched grid against the chunks along the stacking axis (stitched again in memory, for its report).

    Returns
    -------
    geometry : pandas.DataFrame
        Per chunk and for the stitched image: ``shape``, ``voxel (mm)``, ``orientation`` (nibabel axis codes),
        ``first slice (mm)`` and ``last slice (mm)`` (voxel centres along the stitched grid's stacking axis).
    result : StitchResult
        The in-memory stitch (its report and ramp weights).
    summary : str
        One line: the stitched grid's first and last slices minus the chunks' union, beside half a voxel.
    """
    images = [c["image"] for c in session.chunks]
    result = stitch_images(images, is_mask=False)
    axis = result.report.stacking_axis
    direction = result.report.affine[:3, axis] / result.report.spacing[axis]

    def span_along_axis(img):
        n = np.asarray(img.shape) - 1
        centres = np.array([[i, j, k] for i in (0, n[0]) for j in (0, n[1]) for k in (0, n[2])], float)
        position = (centres @ img.affine[:3, :3].T + img.affine[:3, 3]) @ direction
        return position.min(), position.max()

    volumes = [(f"chunk {c['chunk']}", c["image"]) for c in session.chunks] + [("stitched", result.image)]
    rows = []
    for label, img in volumes:
        first, last = span_along_axis(img)
        rows.append({"volume": label, "shape": img.shape, "voxel (mm)": tuple(np.round(img.header.get_zooms(), 2)),
                     "orientation": "".join(axcodes(img.affine)),
                     "first slice (mm)": round(first, 2), "last slice (mm)": round(last, 2)})
    geometry = pd.DataFrame(rows)
    chunks_only = geometry[geometry["volume"] != "stitched"]
    half_voxel = result.report.spacing[axis] / 2
    summary = (f"stitched minus chunks' union: first slice "
               f"{geometry['first slice (mm)'].iloc[-1] - chunks_only['first slice (mm)'].min():+.2f} mm, "
               f"last slice {geometry['last slice (mm)'].iloc[-1] - chunks_only['last slice (mm)'].max():+.2f} mm "
               f"(half a voxel: {half_voxel:.2f} mm)")
    return geometry, result, summary


def show_ramp_weights(session: Session, result: StitchResult) -> Figure:
    """The normalised weight of each chunk through the middle of every overlap."""
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    ramp_weights_plot(result, ax=ax, labels=[f"chunk {c['chunk']}" for c in session.chunks])
    ax.set_title(f"ramp weights through the overlaps, {session.participant_id} {session.session}", fontsize=9)
    fig.tight_layout()
    return fig


#: Rows of :func:`validation_summary`: the column of the validation table and its label.
VALIDATION_MEASURES = {
    "cord_dice": "cord Dice",
    "cord_dice_overlap": "cord Dice, overlaps",
    "cord_dice_single": "cord Dice, single chunk",
    "lesion_dice": "lesion Dice",
    "mae_stitched": "MAE / cord signal, stitched",
    "mae_chunks": "MAE / cord signal, chunks",
}


def validation_summary(validation: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Mean, min and max over sessions of :func:`sclesion.preprocessing.stitching.validation.truth_errors`.

    Returns
    -------
    summary : pandas.DataFrame
        One row per measure (:data:`VALIDATION_MEASURES`), columns ``mean``, ``min``, ``max`` (rounded to 0.001).
    line : str
        The cord Dice in the overlaps minus elsewhere, and the stitched/chunk intensity error ratio.
    """
    summary = validation[list(VALIDATION_MEASURES)].agg(["mean", "min", "max"]).T.round(3)
    summary.index = list(VALIDATION_MEASURES.values())
    gap = summary.loc["cord Dice, overlaps", "mean"] - summary.loc["cord Dice, single chunk", "mean"]
    ratio = summary.loc["MAE / cord signal, stitched", "mean"] / summary.loc["MAE / cord signal, chunks", "mean"]
    line = (f"cord Dice in the overlaps minus elsewhere: {gap:+.3f} (mean over sessions); "
            f"stitched/chunk intensity error: {ratio:.2f}")
    return summary, line


def lesion_count_totals(validation: pd.DataFrame, stitched: pd.DataFrame,
                        synthetic: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lesions in the chunks (summed) and in the stitched images, beside the paper's TUM test set.

    Returns
    -------
    totals : pandas.DataFrame
        Rows ours and the paper's; columns ``chunked``, ``stitched``, ``images (chunks / stitched)`` and, for a
        synthetic cohort, ``truth``.
    changed : pandas.DataFrame
        The sessions whose count changes by stitching.
    """
    numbers = paper_tables.numbers()
    totals = pd.DataFrame({
        "chunked": [int(validation["chunked"].sum()), int(numbers["lesions_test_chunked"])],
        "stitched": [int(validation["stitched"].sum()), int(numbers["lesions_test_stitched"])],
        "images (chunks / stitched)": [f"{int(stitched['n_chunks'].sum())} / {len(stitched)}",
                                       f"{3 * int(numbers['stitched_test_scans'])} / "
                                       f"{int(numbers['stitched_test_scans'])}"],
    }, index=["ours (" + ("synthetic, " if synthetic else "") + "all stitched sessions)", "paper (TUM test set)"])
    if synthetic:
        totals.loc[totals.index[0], "truth"] = int(validation["true_lesions"].sum())
    changed = validation[validation["chunked"] != validation["stitched"]]
    columns = ["participant_id", "session", "chunked", "stitched"] + (["true_lesions"] if synthetic else [])
    return totals, changed[columns]
