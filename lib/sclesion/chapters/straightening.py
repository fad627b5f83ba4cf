"""The straightening chapter (notebook ``03_straightening``; paper 2.2.2, Fig 2D-F): variants, views, checks.

=========================  ======================================================================
entry point                what it gives
=========================  ======================================================================
load_straightened          the straightened variants built (or reused), each image beside its native one
build_status               images per variant and status (built, skipped, failed)
shape_table                the most common native and straight shape per chunk
load_session               the session shown: its chunks and stitched image, native and straightened
show_sagittal              Fig 2A, D, B, E: chunks and stitched image, native and straightened
show_axial                 Fig 2C, F: an axial slice through a lesion, native and straightened
assess                     every image's straightening measured (read from the variants, not redone)
summary_by_image           the measures per kind of image (chunks, stitched)
targets_table              the worst and mean of each measure beside its target and SCT's figure
paper_dice_table           the paper's median lesion Dice, native against straightened models
lesion_dice_ceiling        our median round-trip lesion Dice: the ceiling of a straight-space model
show_lesion_volume_changes lesion volume straight/native against the offset towards the concave side
lesion_side_table          the same per side of the curve, with the geometric prediction
=========================  ======================================================================

The straightening of every image is read back from the files of the straightened variants
(:func:`sclesion.preprocessing.variants.read_straightening`: the fields kept beside each image), so the chapter
measures exactly what the training chapter trains on. Lesions are those of
:func:`sclesion.evaluation.lesions.label_lesions` (6-connectivity). Figures fit the book's text column.
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
from sclesion.core.nifti import load_mask
from sclesion.core.workers import process_pool
from sclesion.data import paper as paper_tables
from sclesion.data.bids import discover
from sclesion.evaluation.lesions import count_lesions
from sclesion.figures.slices import PULL_APART_MM, TEXT_WIDTH_IN, axial_lesion_panel, cord_plane_mm, sagittal_mip_panel
from sclesion.preprocessing.straightening.qc import assess_straightening
from sclesion.preprocessing.variants import build_variants, read_straightening, variant_root

#: The variants this chapter builds and reads.
VARIANTS = ("stitched_native", "chunks_straightened", "stitched_straightened")

#: Native lesions at least this large (mm^3) enter the volume-change analysis.
MIN_LESION_MM3 = 10.0


def load_straightened(bids_root: str | Path, work_dir: str | Path, fov_mm: float, n_jobs: int
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build (or reuse) the straightened variants of the TUM site and pair each image with its native one.

    Parameters
    ----------
    bids_root, work_dir : str or Path
    fov_mm : float
        Half width of the straight field of view (mm).
    n_jobs : int
        Parallel worker processes.

    Returns
    -------
    built : pandas.DataFrame
        :func:`sclesion.preprocessing.variants.build_variants`'s table (one row per output, with ``status``).
    chunks, stitched : pandas.DataFrame
        Native rows (``image``, ``cord``, ``lesion``) beside their straightened outputs (``image_straight``,
        ``cord_straight``, ``lesion_straight``), for the chunks and for the stitched images of this dataset.
    """
    dataset = discover(bids_root)
    sites = ("TUM",) if (dataset["site"] == "TUM").any() else None  # a dataset without TUM: every site
    built = build_variants(bids_root, work_dir, variants=VARIANTS, sites=sites, fov_mm=fov_mm, n_jobs=n_jobs,
                           progress=False)
    current = set(zip(dataset["participant_id"], dataset["session"]))  # sessions of this dataset only

    def paired(native, variant, keys):
        straight = discover(variant_root(variant, bids_root, work_dir))
        table = native.merge(straight[keys + ["image", "cord", "lesion"]], on=keys, suffixes=("", "_straight"))
        keep = np.array([key in current for key in zip(table["participant_id"], table["session"])], dtype=bool)
        return table[keep].reset_index(drop=True)

    native_chunks = dataset[dataset["chunk"].notna() & dataset["cord"].notna()]
    if sites:
        native_chunks = native_chunks[native_chunks["site"].isin(sites)]
    chunks = paired(native_chunks, "chunks_straightened", ["participant_id", "session", "chunk"])
    stitched = paired(discover(variant_root("stitched_native", bids_root, work_dir)), "stitched_straightened",
                      ["participant_id", "session"])
    return built, chunks, stitched


def build_status(built: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Images per variant and status, and one line per failed image."""
    counts = (built.assign(status=built["status"].str.split(":").str[0]).groupby(["variant", "status"]).size()
              .rename("images").to_frame())
    failed = [f"{r.variant} {r.participant_id} {r.session} chunk {r.chunk}: {r.status}"
              for r in built[built["status"].str.startswith("failed")].itertuples(index=False)]
    return counts, failed


def shape_table(chunks: pd.DataFrame) -> pd.DataFrame:
    """The most common native and straight shape (voxels, RPI axis order of each file) per chunk number."""
    shapes = pd.DataFrame({
        "chunk": chunks["chunk"].astype(int),
        "native shape": [nib.load(p).shape for p in chunks["image"]],
        "straight shape": [nib.load(p).shape for p in chunks["image_straight"]],
    })
    return shapes.groupby("chunk").agg(lambda s: s.value_counts().index[0]).rename(columns=lambda c: f"most common {c}")


@dataclass
class Session:
    """A session shown in the figures: its chunk rows (sorted) and its stitched row, native and straightened."""

    participant_id: str
    session: str
    chunks: pd.DataFrame
    whole: pd.Series
    n_lesions: int


def load_session(chunks: pd.DataFrame, stitched: pd.DataFrame, subject: str = "") -> Session:
    """The session named ``subject`` (participant id), else the one with most lesions in its chunks.

    Raises
    ------
    InputError
        If no straightened chunks belong to ``subject``.
    """
    sessions = chunks.groupby(["participant_id", "session"], sort=True)
    keys = [key for key in sessions.groups if not subject or key[0] == subject]
    if not keys:
        raise InputError(f"no straightened chunks for subject {subject!r}")
    counts = [sum(count_lesions(load_mask(p)[0]) for p in sessions.get_group(key)["lesion"]) for key in keys]
    best = int(np.argmax(counts))
    key = keys[best]
    whole = stitched[(stitched["participant_id"] == key[0]) & (stitched["session"] == key[1])].iloc[0]
    return Session(key[0], key[1], sessions.get_group(key).sort_values("chunk"), whole, counts[best])


def show_sagittal(session: Session) -> Figure:
    """Fig 2A, D, B, E: mid-sagittal slices with the lesion MIP; chunks pulled apart along S-I."""
    load = nib.load
    x_mm = cord_plane_mm(load(session.whole["cord"]))
    fig, axes = plt.subplots(1, 4, figsize=(TEXT_WIDTH_IN, 8.5))
    n = len(session.chunks)
    for k, row in enumerate(session.chunks.itertuples(index=False)):
        shift = (n - 1 - k) * PULL_APART_MM  # chunk 1 (cervical) on top
        sagittal_mip_panel(load(row.image), load(row.lesion), ax=axes[0], x_mm=x_mm, z_shift_mm=shift)
        sagittal_mip_panel(load(row.image_straight), load(row.lesion_straight), ax=axes[1], z_shift_mm=shift)
    sagittal_mip_panel(load(session.whole["image"]), load(session.whole["lesion"]), ax=axes[2], x_mm=x_mm)
    sagittal_mip_panel(load(session.whole["image_straight"]), load(session.whole["lesion_straight"]), ax=axes[3])
    titles = ["A  chunks,\nnative", "D  chunks,\nstraightened", "B  stitched,\nnative", "E  stitched,\nstraightened"]
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
    extents = np.array([image.get_extent() for ax in axes for image in ax.get_images()])
    for ax in axes:  # every panel spans every image drawn (imshow keeps only the last image's extent)
        ax.set_ylim(extents[:, 2:].min(), extents[:, 2:].max())
        own = np.array([image.get_extent() for image in ax.get_images()])
        ax.set_xlim(own[:, :2].max(), own[:, :2].min())  # anterior on the left
        ax.tick_params(axis="x", labelrotation=90)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.suptitle(f"{session.participant_id} {session.session}: mid-sagittal slice, lesion MIP in red\n"
                 f"(chunks pulled apart by {PULL_APART_MM:.0f} mm)", fontsize=9)
    fig.tight_layout()
    return fig


def show_axial(session: Session) -> Figure | None:
    """Fig 2C, F: per chunk holding a lesion, its native slice with most lesion above its straightened one.

    Returns None when no chunk of the session holds a lesion.
    """
    load = nib.load
    with_lesion = [row for row in session.chunks.itertuples(index=False) if np.asarray(load(row.lesion).dataobj).any()]
    if not with_lesion:
        return None
    width = min(TEXT_WIDTH_IN, 2.6 * len(with_lesion))
    fig, axes = plt.subplots(2, len(with_lesion), figsize=(width, 5.4 if len(with_lesion) > 1 else 6.0),
                             squeeze=False)
    for column, row in enumerate(with_lesion):
        axial_lesion_panel(load(row.image), load(row.lesion), load(row.cord), ax=axes[0][column],
                           title=f"C  chunk {int(row.chunk)}, native")
        axial_lesion_panel(load(row.image_straight), load(row.lesion_straight), load(row.cord_straight),
                           ax=axes[1][column], title=f"F  chunk {int(row.chunk)}, straight")
    fig.tight_layout()
    return fig


def assess(chunks: pd.DataFrame, stitched: pd.DataFrame, bids_root: str | Path, synthetic: bool, n_jobs: int = 1
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure the straightening of every chunk and stitched image, read from the straightened variants.

    Every image's :class:`~sclesion.preprocessing.straightening.straighten.Straightening` is rebuilt from the
    fields kept beside it (:func:`sclesion.preprocessing.variants.read_straightening`) and measured with
    :func:`sclesion.preprocessing.straightening.qc.assess_straightening`, against the synthetic truth's
    centerline when ``synthetic``; ``n_jobs`` worker processes measure images side by side.

    Returns
    -------
    summary : pandas.DataFrame
        One row per image: ``participant_id``, ``session``, ``image`` (``chunk <k>`` or ``stitched``), the
        summary measures of :func:`~sclesion.preprocessing.straightening.qc.assess_straightening`, ``voxel_mm``
        (smallest in-plane straight spacing) and ``centerline_error_vox``.
    lesions : pandas.DataFrame
        One row per native lesion (:func:`~sclesion.preprocessing.straightening.qc.lesion_volume_changes`)
        with the same keys.
    """
    items = []
    for kind, rows in (("chunks", chunks), ("stitched", stitched)):
        for row in rows.itertuples(index=False):
            label = "stitched" if kind == "stitched" else f"chunk {int(row.chunk)}"
            lesion = str(row.lesion) if isinstance(row.lesion, (str, Path)) else None
            items.append(({"participant_id": row.participant_id, "session": row.session, "image": label},
                          str(row.image_straight), str(row.cord), lesion))
    args = [[item[i] for item in items] for i in range(4)] + [[str(bids_root)] * len(items), [synthetic] * len(items)]
    if n_jobs > 1:
        with process_pool(n_jobs) as pool:
            measured = list(pool.map(_assess_image, *args, chunksize=4))
    else:
        measured = list(map(_assess_image, *args))
    summary = pd.DataFrame([row for row, _ in measured])
    summary["centerline_error_vox"] = summary["centerline_error_mm"] / summary["voxel_mm"]
    return summary, pd.concat([table for _, table in measured], ignore_index=True)


def _assess_image(keys: dict, image_straight: str, cord: str, lesion: str | None, bids_root: str, synthetic: bool
                  ) -> tuple[dict, pd.DataFrame]:
    """:func:`assess` of one image: its summary row and its lesion table, both with ``keys``."""
    truth = None
    if synthetic:
        from sclesion.data.synthetic import read_centerline

        truth = read_centerline(bids_root, keys["participant_id"], keys["session"])
    st = read_straightening(image_straight, cord)
    summary, lesions = assess_straightening(st, nib.load(cord), nib.load(lesion) if lesion else None, truth)
    return {**keys, **summary, "voxel_mm": float(min(st.grid.spacing[:2]))}, lesions.assign(**keys)


def summary_by_image(summary: pd.DataFrame) -> pd.DataFrame:
    """The measures per kind of image (``chunk <k>``, ``stitched``): means, extremes and medians."""
    return summary.groupby("image").agg(
        n=("session", "size"),
        centerline_error_mm=("centerline_error_mm", "mean"),
        centerline_error_max_mm=("centerline_error_mm", "max"),
        centroid_error_mm=("centroid_error_mm", "mean"),
        offset_mean_vox=("offset_mean_vox", "mean"),
        offset_max_vox=("offset_max_vox", "max"),
        area_ratio_median=("area_ratio_median", "median"),
        area_ratio_min=("area_ratio_min", "min"),
        area_ratio_max=("area_ratio_max", "max"),
        round_trip_fields_mean=("round_trip_fields", "mean"),
        round_trip_fields_min=("round_trip_fields", "min"),
        round_trip_pipeline_mean=("round_trip_pipeline", "mean"),
        round_trip_pipeline_min=("round_trip_pipeline", "min"),
        lesion_round_trip_median=("lesion_round_trip_pipeline", "median"),
    )


def targets_table(summary: pd.DataFrame, lesions: pd.DataFrame) -> pd.DataFrame:
    """Each measure's worst case over all images and its mean, beside our target and SCT's measured figure."""
    large = lesions[lesions["volume_native_mm3"] >= MIN_LESION_MM3]
    worst_ratio = {c: 1 + (large[c] - 1).abs().max() if len(large) else np.nan for c in ("ratio_soft", "ratio_binary")}
    rows = [
        ("mean centerline error (mm)", "<= 0.4", summary["centerline_error_mm"].max(),
         summary["centerline_error_mm"].mean(), "0.40"),
        ("  the input: cord mask slice centroids vs truth (mm)", "-", summary["centroid_error_mm"].max(),
         summary["centroid_error_mm"].mean(), "-"),
        ("straight cord centroid offset, per slice (voxels)", "<= 0.5", summary["offset_max_vox"].max(),
         summary["offset_mean_vox"].mean(), "-"),
        ("area straight / native x cos(tilt), per slice", "1 +- 0.05",
         (summary[["area_ratio_min", "area_ratio_max"]] - 1).abs().max().max() + 1,
         summary["area_ratio_median"].mean(), "-"),
        ("round-trip cord Dice, through the fields", ">= 0.99", summary["round_trip_fields"].min(),
         summary["round_trip_fields"].mean(), "0.989-0.994"),
        ("round-trip cord Dice, pipeline", "-", summary["round_trip_pipeline"].min(),
         summary["round_trip_pipeline"].mean(), "-"),
        ("lesion volume straight / native, soft (>= 10 mm3)", "1 +- 0.10", worst_ratio["ratio_soft"],
         large["ratio_soft"].mean(), "-"),
        ("lesion volume straight / native, binary (>= 10 mm3)", "-", worst_ratio["ratio_binary"],
         large["ratio_binary"].mean(), "-"),
    ]
    return pd.DataFrame(rows, columns=["measure", "target", "worst", "mean", "SCT (measured)"]).set_index("measure")


def paper_dice_table() -> pd.DataFrame:
    """The paper's median lesion Dice (section 3.2) of the native and straightened models, and the difference."""
    numbers = paper_tables.numbers()
    table = pd.DataFrame({
        "native": [numbers["median_dice_2d_chunks_native"], numbers["median_dice_3d_stitched_native"]],
        "straightened": [numbers["median_dice_2d_chunks_straightened"],
                         numbers["median_dice_3d_stitched_straightened"]],
    }, index=["2D, chunks", "3D, stitched"])
    table["difference"] = table["straightened"] - table["native"]
    return table


def lesion_dice_ceiling(summary: pd.DataFrame) -> pd.DataFrame:
    """Median round-trip lesion Dice (pipeline) of the chunks and of the stitched images."""
    kind = summary["image"].where(summary["image"] == "stitched", "chunks")
    ceiling = summary.groupby(kind)["lesion_round_trip_pipeline"].median()
    return ceiling.rename("lesion round-trip Dice").to_frame()


def _large_lesions(lesions: pd.DataFrame) -> pd.DataFrame:
    large = lesions[lesions["volume_native_mm3"] >= MIN_LESION_MM3].copy()
    large["side"] = np.where(large["concave_offset_mm"] >= 0, "concave", "convex")
    return large


def show_lesion_volume_changes(lesions: pd.DataFrame) -> Figure:
    """Lesion volume straight/native (soft, binary) against the offset towards the concave side, with the
    geometric prediction ``1 / (1 - kappa d)``; points coloured by curvature, sized by native volume."""
    large = _large_lesions(lesions)
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 3.6), sharex=True, layout="constrained")
    points = None
    panels = ((axes[0], "ratio_soft", "soft: the geometry alone"),
              (axes[1], "ratio_binary", "binary: linear, > 0.5 (the authors')"))
    for ax, column, title in panels:
        ax.axhspan(0.9, 1.1, color="0.92", zorder=0, label="within 10%")
        ax.axhline(1.0, color="0.5", linewidth=0.8)
        points = ax.scatter(large["concave_offset_mm"], large[column], c=large["curvature_per_mm"] * 1000,
                            cmap="viridis", s=14 + large["volume_native_mm3"] / 4, edgecolors="none")
        order = np.argsort(large["concave_offset_mm"].to_numpy())
        ax.plot(large["concave_offset_mm"].to_numpy()[order], large["expected_ratio"].to_numpy()[order], "r.",
                markersize=3, label="geometric prediction 1 / (1 - κ d)")
        ax.set_xlabel("offset towards the concave side, d (mm)", fontsize=9)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("lesion volume, straight / native", fontsize=9)
    axes[0].legend(fontsize=8, loc="lower left")
    colourbar = fig.colorbar(points, ax=axes, label="curvature (1/m)")
    colourbar.ax.tick_params(labelsize=8)
    return fig


def lesion_side_table(lesions: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per side of the curve: lesions (>= 10 mm^3), median volume and offset, predicted and measured ratios.

    Returns
    -------
    table : pandas.DataFrame
    line : str
        The slope of the soft volume change against ``kappa d`` (the geometry predicts 1) and the share of
        lesions within 10% of their native volume.
    """
    large = _large_lesions(lesions)
    table = large.groupby("side").agg(
        n=("lesion", "size"),
        median_volume_mm3=("volume_native_mm3", "median"),
        median_offset_mm=("concave_offset_mm", "median"),
        expected=("expected_ratio", "median"),
        soft=("ratio_soft", "median"),
        binary=("ratio_binary", "median"),
    )
    slope = (np.polyfit(large["concave_offset_mm"] * large["curvature_per_mm"], large["ratio_soft"] - 1, 1)[0]
             if len(large) > 2 else np.nan)
    line = (f"soft volume change against kappa*d: slope {slope:.2f} (geometry: 1.00); "
            f"binary ratios: median {large['ratio_binary'].median():.2f}, "
            f"{(large['ratio_binary'].sub(1).abs() <= 0.1).mean():.0%} within 10% "
            f"(soft: {(large['ratio_soft'].sub(1).abs() <= 0.1).mean():.0%})")
    return table, line
