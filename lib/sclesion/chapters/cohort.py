"""The cohort chapter (notebook ``01_cohort``; paper 2.1, Fig 1, Fig 2A, Fig 3, Table 1): its tables and views.

Tables take a dataset table from :func:`sclesion.data.bids.discover` with a ``split`` column added by
:func:`sclesion.data.split.attach_split`. The paper's values come from :mod:`sclesion.data.paper`, so the notebook
prints them beside ours. The work itself lives by concern: sidecars and headers in
:mod:`sclesion.data.acquisition`, lesions in :mod:`sclesion.evaluation.lesions`, figures in
:mod:`sclesion.figures` (:mod:`~sclesion.figures.flowchart`, :mod:`~sclesion.figures.distributions`,
:mod:`~sclesion.figures.slices`, :mod:`~sclesion.figures.widgets`).

=====================  ==========================================================================
entry point            what it gives
=====================  ==========================================================================
count_table            subjects, sessions and images per site and split (Fig 1)
paper_counts           the paper's counts, same columns
compare_counts         ours beside the paper's
key_numbers            the cohort's headline numbers beside the paper's text
acquisition_table      Table 1 recomputed from sidecars and headers
compare_table1         ours beside the paper's Table 1
lesion_summary         lesion count and volume quartiles per site and split (Fig 3)
whole_spine_session    the session to show (three chunks, most lesions)
session_volumes        the volumes of a session: its ground truth (synthetic) or its chunks
show_whole_spine       Fig 2A-like: the chunks in world space beside the ground truth
show_axial             an axial slice of the session through its largest lesion area
show_viewer            the same image in an interactive viewer that works in the static book
=====================  ==========================================================================

Units: voxel sizes and positions in mm, lesion volumes in mm^3, TR/TE in ms. Arrays in RPI orientation are
indexed ``[i, j, k]`` = (right->left, posterior->anterior, inferior->superior).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclesion.core.errors import InputError
from sclesion.data import paper as paper_tables
from sclesion.data.split import in_study_order, site_order
from sclesion.data.synthetic.truth import truth_volume_paths
from sclesion.figures.slices import load_rpi, plot_axial, plot_sagittal, sagittal_view
from sclesion.figures.widgets import row_label


# --- counts (Fig 1) --------------------------------------------------------------------------------------


def count_table(dataset: pd.DataFrame) -> pd.DataFrame:
    """Subjects, sessions and images per site and split.

    Parameters
    ----------
    dataset : pandas.DataFrame
        One row per image with ``participant_id``, ``session``, ``site``, ``split``. A subject without
        sessions counts as one session.

    Returns
    -------
    pandas.DataFrame
        Columns ``site``, ``split``, ``subjects``, ``sessions``, ``images``; rows in site then split order.
    """
    table = dataset.assign(
        site=dataset["site"].fillna("n/a"),
        visit=dataset["participant_id"] + "/" + dataset["session"].fillna("").astype(str),
    )
    counts = (
        table.groupby(["site", "split"])
        .agg(subjects=("participant_id", "nunique"), sessions=("visit", "nunique"), images=("image", "size"))
        .reset_index()
    )
    return in_study_order(counts)


def paper_counts() -> pd.DataFrame:
    """The paper's subjects, sessions and images per site and split (same columns as :func:`count_table`).

    From the paper's text (TUM split, paper 2.4) and Table 1 (scans of the other sites). NYU, BWH and UCSF are
    cross-sectional: one session per patient.
    """
    numbers = paper_tables.numbers()
    scans = paper_tables.table1().groupby("site")["n_scans_site"].first()
    n = {key: int(value) for key, value in numbers.items() if float(value).is_integer()}
    rows = [
        ("TUM", "train", n["chunks_native_train_patients"], n["stitched_train_scans"], n["chunks_native_train_chunks"]),
        ("TUM", "test", n["chunks_native_test_patients"], n["stitched_test_scans"], n["chunks_native_test_chunks"]),
        ("NYU", "train", n["nyu_patients"], n["nyu_patients"], int(scans["NYU"])),
        ("BWH", "test", n["bwh_patients"], n["bwh_patients"], int(scans["BWH"])),
        ("UCSF", "test", n["ucsf_patients"], n["ucsf_patients"], int(scans["UCSF"])),
    ]
    return pd.DataFrame(rows, columns=["site", "split", "subjects", "sessions", "images"])


def compare_counts(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our counts beside the paper's: columns ``<count>`` and ``<count> (paper)`` per site and split."""
    merged = ours.merge(paper, on=["site", "split"], how="outer", suffixes=("", " (paper)"))
    columns = ["site", "split"] + [c for n in ("subjects", "sessions", "images") for c in (n, f"{n} (paper)")]
    merged = merged[columns]
    for column in columns[2:]:
        merged[column] = merged[column].astype("Int64")
    return in_study_order(merged)


def key_numbers(data: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """The cohort's headline numbers (paper 2.1 and 2.4) beside the paper's, as text (``%g``).

    Parameters
    ----------
    data : pandas.DataFrame
        The dataset with its ``split`` column.
    split : pandas.DataFrame
        The split table (one row per subject with ``site`` and ``split``).

    Returns
    -------
    pandas.DataFrame
        Index: the quantity; columns ``ours`` and ``paper``.
    """
    numbers = paper_tables.numbers()
    tum = data[data["site"] == "TUM"]
    sessions_per_tum = tum.groupby("participant_id")["session"].nunique()
    chunks_per_session = tum.groupby(["participant_id", "session"])["chunk"].nunique()

    def patients(site):
        return data.loc[data["site"] == site, "participant_id"].nunique()

    rows = {
        "TUM patients": (tum["participant_id"].nunique(), numbers["tum_patients"]),
        "sessions per TUM patient": (sessions_per_tum.median(), numbers["tum_sessions_per_patient"]),
        "chunks per TUM session": (chunks_per_session.median(), 3),
        "NYU patients": (patients("NYU"), numbers["nyu_patients"]),
        "BWH patients": (patients("BWH"), numbers["bwh_patients"]),
        "UCSF patients": (patients("UCSF"), numbers["ucsf_patients"]),
        "patients in total": (data["participant_id"].nunique(), numbers["total_patients"]),
        "scans in total": (len(data), numbers["total_scans"]),
        "TUM train fraction (patients)": (
            round((split[split["site"] == "TUM"]["split"] == "train").mean(), 3), numbers["split_train_fraction"]),
    }
    return pd.DataFrame(rows, index=["ours", "paper"]).T.map(lambda v: f"{v:g}")


# --- acquisition table (Table 1) -------------------------------------------------------------------------


def _format_sizes(values: np.ndarray, digits: int = 2) -> str:
    return "x".join(f"{round(float(v), digits):g}" for v in values)


def acquisition_table(records: pd.DataFrame) -> pd.DataFrame:
    """Table 1 recomputed: per site and scanner (manufacturer and field strength).

    Returns
    -------
    pandas.DataFrame
        The columns of ``data_manifest/paper/table1_sites.csv``: ``site``, ``n_scans_site``,
        ``manufacturer_field`` (e.g. "Siemens 3T"), ``n_scans``, ``tr_ms_median``, ``te_ms_median``,
        ``res_min_mm`` and ``res_max_mm`` (per-axis minimum and maximum voxel size of the site, in RPI order
        R-L x P-A x I-S, e.g. "0.9x0.9x3"), plus ``matrix_min`` and ``matrix_max`` (per-axis matrix size).
    """
    records = records.assign(
        site=records["site"].fillna("n/a"),
        manufacturer_field=[
            "unknown" if pd.isna(m) else (f"{m} {f:g}T" if pd.notna(f) else str(m))
            for m, f in zip(records["manufacturer"], records["field_T"])
        ],
    )
    vox = ["vox_rl_mm", "vox_pa_mm", "vox_is_mm"]
    matrix = ["nx", "ny", "nz"]
    per_site = records.groupby("site").apply(
        lambda g: pd.Series({
            "n_scans_site": len(g),
            "res_min_mm": _format_sizes(g[vox].min().to_numpy()),
            "res_max_mm": _format_sizes(g[vox].max().to_numpy()),
            "matrix_min": "x".join(str(int(v)) for v in g[matrix].min()),
            "matrix_max": "x".join(str(int(v)) for v in g[matrix].max()),
        }),
        include_groups=False,
    ).reset_index()
    per_scanner = (
        records.groupby(["site", "manufacturer_field"])
        .agg(n_scans=("manufacturer_field", "size"), tr_ms_median=("tr_ms", "median"), te_ms_median=("te_ms", "median"))
        .reset_index()
    )
    table = per_scanner.merge(per_site, on="site")
    table["n_scans_site"] = table["n_scans_site"].astype(int)
    columns = ["site", "n_scans_site", "manufacturer_field", "n_scans", "tr_ms_median", "te_ms_median",
               "res_min_mm", "res_max_mm", "matrix_min", "matrix_max"]
    order = {s: i for i, s in enumerate(site_order(table["site"]))}
    table = table.assign(_o=table["site"].map(order)).sort_values(["_o", "manufacturer_field"], kind="stable")
    return table[columns].reset_index(drop=True)


def compare_table1(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our acquisition table beside the paper's, row by row (site, scanner); ``(paper)`` columns are theirs."""
    keys = ["site", "manufacturer_field"]
    values = ["n_scans", "tr_ms_median", "te_ms_median", "res_min_mm", "res_max_mm"]
    merged = ours[keys + values].merge(paper[keys + values], on=keys, how="outer", suffixes=("", " (paper)"))
    columns = keys + [c for v in values for c in (v, f"{v} (paper)")]
    for column in ("n_scans", "n_scans (paper)"):
        merged[column] = merged[column].astype("Int64")
    order = {s: i for i, s in enumerate(site_order(merged["site"]))}
    merged = merged.assign(_o=merged["site"].map(order)).sort_values(["_o", "manufacturer_field"], kind="stable")
    return merged[columns].reset_index(drop=True)

# --- lesion volumes (Fig 3) ------------------------------------------------------------------------------


def lesion_summary(volumes: pd.DataFrame) -> pd.DataFrame:
    """Lesion count and volume quartiles (mm^3) per site and split."""
    summary = (
        volumes.assign(site=volumes["site"].fillna("n/a"))
        .groupby(["site", "split"])["volume_mm3"]
        .describe(percentiles=[0.25, 0.5, 0.75])[["count", "25%", "50%", "75%", "max"]]
        .rename(columns={"count": "lesions", "25%": "q1_mm3", "50%": "median_mm3", "75%": "q3_mm3",
                         "max": "max_mm3"})
        .reset_index()
    )
    summary["lesions"] = summary["lesions"].astype(int)
    return in_study_order(summary.round(1))

# --- whole-spine and axial views (Fig 2A, 2C) ------------------------------------------------------------


def whole_spine_session(data: pd.DataFrame, volumes: pd.DataFrame) -> tuple[str, str]:
    """The session to show: among sessions with three or more chunks (else all), the one with most lesions.

    Parameters
    ----------
    data : pandas.DataFrame
        The dataset.
    volumes : pandas.DataFrame
        :func:`sclesion.evaluation.lesions.lesion_volumes` of it.

    Returns
    -------
    (participant_id, session)
    """
    three_chunks = data.groupby(["participant_id", "session"], dropna=False)["chunk"].nunique()
    candidates = three_chunks[three_chunks >= 3].index
    if len(candidates) == 0:
        candidates = three_chunks.index
    per_session = volumes.groupby(["participant_id", "session"], dropna=False).size().reindex(candidates, fill_value=0)
    return per_session.idxmax()


def session_volumes(dataset: pd.DataFrame, bids_root: str | Path, participant_id: str, session: str | None,
                    truth: bool = True) -> tuple[list[tuple[Path, Path | None, Path | None]], str]:
    """Volumes to show for a session: the synthetic whole-spine ground truth if present, else its chunks.

    Parameters
    ----------
    dataset : pandas.DataFrame
        From :func:`sclesion.data.bids.discover`.
    bids_root : str or Path
    participant_id : str
    session : str or None
        None (or NA) for a dataset without sessions.
    truth : bool, default True
        Prefer the ground truth when the dataset has one; False always gives the chunks.

    Returns
    -------
    volumes : list of (image, cord, lesion) paths
    source : str
        ``"ground truth"`` or ``"chunks"``.
    """
    no_session = session is None or pd.isna(session)
    paths = None if no_session or not truth else truth_volume_paths(bids_root, participant_id, session)
    if paths is not None:
        return [(paths["image"], paths["cord"], paths["lesion"])], "ground truth"
    same_session = dataset["session"].isna() if no_session else dataset["session"] == session
    rows = dataset[(dataset["participant_id"] == participant_id) & same_session]
    if rows.empty:
        raise InputError(f"no images for {participant_id} {session}", bids_root)
    rows = rows.sort_values("chunk")
    return [(r.image, r.cord, r.lesion) for r in rows.itertuples(index=False)], "chunks"


def show_whole_spine(data: pd.DataFrame, bids_root: str | Path, subject: str, session: str) -> Figure:
    """Fig 2A-like: the session's chunks placed in world space, beside its ground truth when there is one."""
    chunks, _ = session_volumes(data, bids_root, subject, session, truth=False)
    views, titles = [sagittal_view(chunks)], [f"{len(chunks)} chunk(s) in world space"]
    truth, kind = session_volumes(data, bids_root, subject, session)
    if kind == "ground truth":
        views.append(sagittal_view(truth))
        titles.append("synthetic ground truth")
    return plot_sagittal(views, titles)


def show_axial(data: pd.DataFrame, subject: str, session: str) -> Figure:
    """The first image of a session, on its axial slice with the most lesion (else cord) voxels."""
    row = next(data[(data["participant_id"] == subject) & (data["session"] == session)].itertuples(index=False))
    return plot_axial(load_rpi(row), title=row_label(row))


def show_viewer(data: pd.DataFrame, subject: str, session: str):
    """The first image of a session in an interactive viewer with its cord and lesion masks, which works in the
    static book too (:func:`sclesion.figures.viewer.cord_lesion_viewer`; nilearn inlines its scripts)."""
    from sclesion.core.nifti import load_nifti
    from sclesion.figures.viewer import cord_lesion_viewer

    row = next(data[(data["participant_id"] == subject) & (data["session"] == session)].itertuples(index=False))
    lesion = load_nifti(row.lesion) if isinstance(row.lesion, (str, Path)) else None
    return cord_lesion_viewer(load_nifti(row.image), load_nifti(row.cord), lesion, title=row_label(row))
