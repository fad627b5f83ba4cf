"""The cohort chapter (paper 2.1, Fig 1, Fig 2A, Fig 3, Table 1): counts, acquisition table, lesion volumes.

Tables take a dataset table from :func:`sclesion.data.bids.discover` with a ``split`` column added by
:func:`sclesion.data.split.attach_split`. Figures return a matplotlib ``Figure``. The paper's own values are read
from ``data_manifest/paper/`` (:func:`paper_counts`, :func:`paper_table1`) so notebooks can print them beside
ours.

Units: voxel sizes and positions in mm, lesion volumes in mm^3, TR/TE in ms. Arrays in RPI orientation are
indexed ``[i, j, k]`` = (right->left, posterior->anterior, inferior->superior).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import ndimage
from tqdm.auto import tqdm

from sclesion.data.bids import sidecar_path
from sclesion.core.errors import InputError
from sclesion.core.nifti import load_image, load_mask, load_nifti, shape_rpi, to_rpi, voxel_sizes_rpi
from sclesion.core.paths import manifest_dir

#: Display order of the study's sites; other sites follow alphabetically.
SITE_ORDER: tuple[str, ...] = ("TUM", "NYU", "BWH", "UCSF")
SPLIT_ORDER: tuple[str, ...] = ("train", "test")
#: Voxel neighbourhood of a lesion component: faces only (6-connectivity), as in the study's metrics.
CONNECTIVITY_6 = ndimage.generate_binary_structure(3, 1)

_SPLIT_COLOURS = {"train": "#3b75af", "test": "#d1603d"}


def site_order(sites) -> list[str]:
    """Sort site names: the study's sites first (:data:`SITE_ORDER`), then the others alphabetically."""
    present = [s for s in pd.unique(pd.Series(list(sites)).dropna())]
    return [s for s in SITE_ORDER if s in present] + sorted(s for s in present if s not in SITE_ORDER)


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
    return _in_order(counts)


def _in_order(table: pd.DataFrame) -> pd.DataFrame:
    sites = {s: i for i, s in enumerate(site_order(table["site"]))}
    splits = {s: i for i, s in enumerate(SPLIT_ORDER)}
    key = table["site"].map(sites) * 10 + table["split"].map(splits).fillna(9)
    return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def paper_counts() -> pd.DataFrame:
    """The paper's subjects, sessions and images per site and split (same columns as :func:`count_table`).

    From ``data_manifest/paper/text_numbers.csv`` (TUM split, paper 2.4) and ``table1_sites.csv`` (scans of
    the other sites). NYU, BWH and UCSF are cross-sectional: one session per patient.
    """
    numbers = pd.read_csv(manifest_dir() / "paper" / "text_numbers.csv").set_index("quantity")["value"]
    scans = pd.read_csv(manifest_dir() / "paper" / "table1_sites.csv").groupby("site")["n_scans_site"].first()
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
    return _in_order(merged)


def plot_flowchart(counts: pd.DataFrame, paper: pd.DataFrame | None = None) -> Figure:
    """Fig 1B-like flowchart: each site's patients (n) and images (nvol) flowing into train and test.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`count_table`.
    paper : pandas.DataFrame, optional
        From :func:`paper_counts`; printed under our numbers as "paper: n=..., nvol=...".
    """
    # left to right: train-only sites, sites on both sides, test-only sites (so that arrows do not cross)
    roles = counts.groupby("site")["split"].agg(lambda s: 0 if set(s) == {"train"} else 2 if set(s) == {"test"} else 1)
    sites = sorted(site_order(counts["site"]), key=lambda s: roles[s])
    fig, ax = plt.subplots(figsize=(2.4 * max(len(sites), 2) + 1, 4.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    site_x = {s: (i + 0.5) / len(sites) for i, s in enumerate(sites)}
    split_x = {}
    for split, default in zip(SPLIT_ORDER, (0.3, 0.7)):
        feeding = counts.loc[counts["split"] == split, "site"]
        split_x[split] = float(np.mean([site_x[s] for s in feeding])) if len(feeding) else default
    if abs(split_x["train"] - split_x["test"]) < 0.3:
        split_x = {"train": 0.3, "test": 0.7}

    def box(x, y, title, ours, theirs, colour):
        text = f"{title}\n{ours}" + (f"\npaper: {theirs}" if theirs else "")
        ax.text(x, y, text, ha="center", va="center", fontsize=9, linespacing=1.4,
                bbox=dict(boxstyle="round,pad=0.5", facecolor=colour, edgecolor="0.3"))

    for site in sites:
        box(site_x[site], 0.8, site, _n_nvol(counts, site=site), _n_nvol(paper, site=site), "0.93")
    for split in SPLIT_ORDER:
        title = "training" if split == "train" else "testing"
        box(split_x[split], 0.15, title, _n_nvol(counts, split=split) or "n=0, nvol=0",
            _n_nvol(paper, split=split), _SPLIT_COLOURS[split] + "40")
    for row in counts.itertuples(index=False):
        if row.split not in split_x:
            continue
        start, end = (site_x[row.site], 0.68), (split_x[row.split], 0.28)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color=_SPLIT_COLOURS[row.split], lw=1.4))
        mid = (0.6 * start[0] + 0.4 * end[0], 0.52)
        ax.text(*mid, f"n={row.subjects}\nnvol={row.images}", fontsize=8, ha="center", va="center",
                color=_SPLIT_COLOURS[row.split], bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax.set_title("Patients (n) and images (nvol) per site and split", fontsize=11)
    fig.tight_layout()
    return fig


def _n_nvol(table: pd.DataFrame | None, site: str | None = None, split: str | None = None) -> str | None:
    """``"n=<subjects>, nvol=<images>"`` summed over the rows of a count table matching site and split."""
    if table is None:
        return None
    rows = table[(table["site"] == site if site else True) & (table["split"] == split if split else True)]
    return f"n={rows['subjects'].sum()}, nvol={rows['images'].sum()}" if len(rows) else None


# --- acquisition table (Table 1) -------------------------------------------------------------------------


def read_sidecar(image: str | Path) -> dict:
    """The JSON sidecar of an image as a dict ({} when absent).

    Raises
    ------
    InputError
        If the sidecar exists but is not a JSON object.
    """
    path = sidecar_path(image)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err})", path) from None
    if not isinstance(data, dict):
        raise InputError("a sidecar must be a JSON object", path)
    return data


def acquisition_records(dataset: pd.DataFrame) -> pd.DataFrame:
    """One row per image: scanner (from the JSON sidecar) and geometry (from the NIfTI header only).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``session``, ``chunk``, ``site``, ``manufacturer``, ``field_T``,
        ``tr_ms``, ``te_ms`` (sidecar RepetitionTime and EchoTime converted from s to ms; NA if absent),
        ``vox_rl_mm``, ``vox_pa_mm``, ``vox_is_mm`` (voxel size in RPI axis order) and ``nx``, ``ny``, ``nz``
        (matrix size in RPI axis order).
    """
    rows = []
    for row in dataset.itertuples(index=False):
        header = load_nifti(row.image)
        sidecar = read_sidecar(row.image)
        sizes = np.round(voxel_sizes_rpi(header.affine), 4)  # headers store float32: 0.6 reads 0.6000000238
        shape = shape_rpi(header.shape, header.affine)
        rows.append({
            "participant_id": row.participant_id,
            "session": row.session,
            "chunk": row.chunk,
            "site": row.site,
            "manufacturer": _manufacturer(sidecar.get("Manufacturer")),
            "field_T": sidecar.get("MagneticFieldStrength"),
            "tr_ms": _seconds_to_ms(sidecar.get("RepetitionTime")),
            "te_ms": _seconds_to_ms(sidecar.get("EchoTime")),
            "vox_rl_mm": sizes[0], "vox_pa_mm": sizes[1], "vox_is_mm": sizes[2],
            "nx": shape[0], "ny": shape[1], "nz": shape[2],
        })
    records = pd.DataFrame(rows)
    records["chunk"] = records["chunk"].astype("Int64")
    for column in ("field_T", "tr_ms", "te_ms"):
        records[column] = pd.to_numeric(records[column]).astype(float)
    return records


def _manufacturer(name) -> str | None:
    """Vendor names as in Table 1 ("SIEMENS" -> "Siemens", "GE MEDICAL SYSTEMS" -> "GE", "Philips Medical ...")."""
    if not name:
        return None
    text = str(name).strip()
    for vendor in ("Siemens", "Philips", "GE", "Canon", "Toshiba", "Hitachi"):
        if text.upper().startswith(vendor.upper()):
            return vendor
    return text


def _seconds_to_ms(value) -> float | None:
    return None if value is None else round(float(value) * 1000.0, 3)


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


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 (``data_manifest/paper/table1_sites.csv``)."""
    return pd.read_csv(manifest_dir() / "paper" / "table1_sites.csv")


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


def component_volumes(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Volumes in mm^3 of the 6-connected components of a binary mask, in label order.

    Volumes are rounded to 0.001 mm^3 (NIfTI headers store the affine in float32).

    Parameters
    ----------
    mask : numpy.ndarray
        3D binary array (any axis order).
    affine : numpy.ndarray
        Its 4x4 voxel-to-world matrix (mm); the voxel volume is ``|det(affine[:3, :3])|``.
    """
    labels, n = ndimage.label(mask > 0, structure=CONNECTIVITY_6)
    if n == 0:
        return np.zeros(0)
    n_voxels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return np.round(n_voxels * abs(float(np.linalg.det(affine[:3, :3]))), 3)


def lesion_volumes(dataset: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """One row per lesion (6-connected component of each lesion mask), in the image's native grid.

    Chunks overlap slightly, so a lesion crossing an overlap is counted in both chunks (as in the paper's
    chunk-wise counts).

    Parameters
    ----------
    dataset : pandas.DataFrame
        One row per image with ``lesion`` paths (rows without a lesion mask are skipped) and ``site``,
        ``split`` (if present).
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``session``, ``chunk``, ``site``, ``split``, ``lesion_id`` (1-based in
        label order), ``volume_mm3``.
    """
    rows = []
    with_lesion = dataset[dataset["lesion"].notna()]
    for row in tqdm(with_lesion.itertuples(index=False), total=len(with_lesion), desc="lesions", unit="mask",
                    disable=not progress):
        mask, affine = load_mask(row.lesion)
        for lesion_id, volume in enumerate(component_volumes(mask, affine), start=1):
            rows.append((row.participant_id, row.session, row.chunk, row.site, getattr(row, "split", None),
                         lesion_id, float(volume)))
    columns = ["participant_id", "session", "chunk", "site", "split", "lesion_id", "volume_mm3"]
    table = pd.DataFrame(rows, columns=columns)
    table["chunk"] = table["chunk"].astype("Int64")
    return table


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
    return _in_order(summary.round(1))


def plot_lesion_volumes(volumes: pd.DataFrame, bins_per_decade: int = 6) -> Figure:
    """Fig 3-like: lesion-volume histograms per site and split, one panel each, log-scaled volume axis.

    The paper hid lesions above 400 mm^3 for display; the log axis here shows every lesion.
    """
    groups = _in_order(volumes.assign(site=volumes["site"].fillna("n/a"))[["site", "split"]].drop_duplicates())
    low = np.log10(max(float(volumes["volume_mm3"].min()), 0.1)) if len(volumes) else 0.0
    high = np.log10(float(volumes["volume_mm3"].max())) if len(volumes) else 3.0
    edges = 10 ** np.arange(np.floor(low), np.ceil(high) + 1e-9, 1 / bins_per_decade)
    n = max(len(groups), 1)
    fig, axes = plt.subplots(n, 1, figsize=(6.5, 1.25 * n + 1.0), sharex=True, squeeze=False)
    for ax, group in zip(axes[:, 0], groups.itertuples(index=False)):
        values = volumes.loc[(volumes["site"].fillna("n/a") == group.site) & (volumes["split"] == group.split),
                             "volume_mm3"]
        ax.hist(values, bins=edges, color=_SPLIT_COLOURS.get(group.split, "0.5"), edgecolor="white", linewidth=0.5)
        label = f"{group.site} {group.split} ({len(values)} lesion{'' if len(values) == 1 else 's'})"
        ax.text(0.99, 0.85, label, transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.set_ylabel("lesions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xscale("log")
    axes[-1, 0].set_xlabel("lesion volume (mm$^3$, log scale)")
    fig.suptitle("Lesion volumes per site and split (6-connected components of the manual masks)", fontsize=10)
    fig.tight_layout()
    return fig


# --- whole-spine mid-sagittal view (Fig 2A) --------------------------------------------------------------


def groundtruth_paths(bids_root: str | Path, participant_id: str, session: str) -> dict[str, Path] | None:
    """The synthetic cohort's whole-spine ground truth of a session, or None for a real dataset.

    Returns
    -------
    dict or None
        ``{"image": ..., "cord": ..., "lesion": ...}`` under ``derivatives/groundtruth/<sub>/<ses>/anat/``.
    """
    folder = Path(bids_root) / "derivatives" / "groundtruth" / participant_id / session / "anat"
    stem = f"{participant_id}_{session}_T2w"
    paths = {
        "image": folder / f"{stem}.nii.gz",
        "cord": folder / f"{stem}_seg-manual.nii.gz",
        "lesion": folder / f"{stem}_lesion-manual.nii.gz",
    }
    return paths if all(p.is_file() for p in paths.values()) else None


@dataclass
class SagittalView:
    """A mid-sagittal slice and the lesion maximum-intensity projection on a world-space (A-P, S-I) grid.

    Attributes
    ----------
    image : numpy.ndarray
        Shape ``(n_ap, n_si)``; intensities scaled to [0, 1] per source volume; NaN outside every volume.
    lesion_mip : numpy.ndarray
        Shape ``(n_ap, n_si)``, bool: a lesion voxel somewhere along the R-L line through this point.
    ap_mm, si_mm : numpy.ndarray
        World y (posterior->anterior) and z (inferior->superior) coordinates of the grid, mm.
    x_mm : float
        World x (R-L) of the sagittal plane, mm.
    """

    image: np.ndarray
    lesion_mip: np.ndarray
    ap_mm: np.ndarray
    si_mm: np.ndarray
    x_mm: float


def sagittal_view(volumes: list[tuple[Path, Path | None, Path | None]]) -> SagittalView:
    """Place one or more volumes (whole-spine image, or the chunks of a session) on one sagittal plane.

    The plane is the world x of the cord's centre of mass (or of the volumes' centres without cord masks).
    Each volume is sampled there by nearest neighbour on a grid with the finest A-P and S-I spacing of the
    inputs; later volumes overwrite earlier ones where chunks overlap. The lesion MIP is taken along each
    volume's R-L voxel axis, then placed the same way.

    Parameters
    ----------
    volumes : list of (image, cord, lesion) paths
        ``cord`` and ``lesion`` may be None.
    """
    loaded = []
    for image_path, cord_path, lesion_path in volumes:
        data, affine = to_rpi(*load_image(image_path))
        cord = to_rpi(*load_mask(cord_path))[0] if cord_path else None
        lesion = to_rpi(*load_mask(lesion_path))[0] if lesion_path else None
        loaded.append((data, affine, cord, lesion))
    corners = np.concatenate([_corners(d.shape, a) for d, a, _, _ in loaded])
    cords = [(c, a) for _, a, c, _ in loaded if c is not None and c.any()]
    if cords:
        points = np.concatenate([_world(np.argwhere(c), a) for c, a in cords])
        x_mm = float(points[:, 0].mean())
    else:
        x_mm = float(np.mean([_world(np.array([np.array(d.shape) / 2 - 0.5]), a)[0, 0] for d, a, _, _ in loaded]))
    step_ap = min(voxel_sizes_rpi(a)[1] for _, a, _, _ in loaded)
    step_si = min(voxel_sizes_rpi(a)[2] for _, a, _, _ in loaded)
    ap = np.arange(corners[:, 1].min() + step_ap / 2, corners[:, 1].max(), step_ap)  # sample centres
    si = np.arange(corners[:, 2].min() + step_si / 2, corners[:, 2].max(), step_si)
    grid = np.stack(np.meshgrid(ap, si, indexing="ij"), axis=-1).reshape(-1, 2)
    world = np.column_stack([np.full(len(grid), x_mm), grid, np.ones(len(grid))])
    image = np.full(len(grid), np.nan)
    mip = np.zeros(len(grid), bool)
    for data, affine, _, lesion in loaded:
        ijk = np.rint((np.linalg.inv(affine) @ world.T)[:3].T).astype(int)
        inside = np.all((ijk >= 0) & (ijk < data.shape), axis=1)
        i, j, k = ijk[inside].T
        scale = np.percentile(data[data > 0], 99.5) if (data > 0).any() else 1.0
        image[inside] = np.clip(data[i, j, k] / scale, 0, 1)
        if lesion is not None:
            mip[inside] |= lesion.max(axis=0)[j, k] > 0
    shape = (len(ap), len(si))
    return SagittalView(image.reshape(shape), mip.reshape(shape), ap, si, x_mm)


def _corners(shape, affine) -> np.ndarray:
    ranges = [(-0.5, n - 0.5) for n in shape[:3]]
    corners = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T
    return _world(corners, affine)


def _world(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return ijk @ affine[:3, :3].T + affine[:3, 3]


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
    paths = None if no_session or not truth else groundtruth_paths(bids_root, participant_id, session)
    if paths is not None:
        return [(paths["image"], paths["cord"], paths["lesion"])], "ground truth"
    same_session = dataset["session"].isna() if no_session else dataset["session"] == session
    rows = dataset[(dataset["participant_id"] == participant_id) & same_session]
    if rows.empty:
        raise InputError(f"no images for {participant_id} {session}", bids_root)
    rows = rows.sort_values("chunk")
    return [(r.image, r.cord, r.lesion) for r in rows.itertuples(index=False)], "chunks"


def draw_sagittal(ax, view: SagittalView, title: str = "") -> None:
    """Draw a :class:`SagittalView` on ``ax``: slice in grey, lesion MIP in red; superior up, anterior left (mm)."""
    extent = (view.ap_mm[-1], view.ap_mm[0], view.si_mm[0], view.si_mm[-1])  # anterior left
    ax.imshow(np.ma.masked_invalid(view.image.T), cmap="gray", origin="lower", extent=extent, vmin=0, vmax=1,
              interpolation="nearest")
    overlay = np.ma.masked_where(~view.lesion_mip.T, view.lesion_mip.T.astype(float))
    ax.imshow(overlay, cmap=ListedColormap(["red"]), origin="lower", extent=extent, alpha=0.9,
              interpolation="nearest")
    ax.set_facecolor("black")
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.set_xlabel("A-P position (mm)")
    ax.set_ylabel("S-I position (mm)")
    ax.set_title(title or f"mid-sagittal slice (x = {view.x_mm:.1f} mm)\nlesion MIP in red", fontsize=9)


def plot_sagittal(views: SagittalView | list[SagittalView], titles: str | list[str] = "") -> Figure:
    """Fig 2A-like: one panel per view (e.g. the chunks placed in world space, and the ground truth)."""
    views = [views] if isinstance(views, SagittalView) else list(views)
    titles = [titles] * len(views) if isinstance(titles, str) else list(titles)
    height = 7.5
    widths = [height * np.ptp(v.ap_mm) / max(np.ptp(v.si_mm), 1.0) for v in views]
    fig, axes = plt.subplots(1, len(views), figsize=(max(4.0, sum(widths) + 2.2 * len(views)), height),
                             sharey=True, squeeze=False)
    for ax, view, title in zip(axes[0], views, titles):
        draw_sagittal(ax, view, title)
    for ax in axes[0, 1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


# --- axial slices (static panel and interactive browser) -------------------------------------------------


def load_rpi(row) -> dict[str, np.ndarray | None]:
    """Image, cord and lesion of a dataset row in RPI orientation, with voxel sizes (mm).

    Returns
    -------
    dict
        ``image`` (float32), ``cord`` and ``lesion`` (uint8 or None), ``voxel_mm`` (R-L, P-A, I-S).
    """
    image, affine = to_rpi(*load_image(row.image))
    out = {"image": image, "voxel_mm": voxel_sizes_rpi(affine), "cord": None, "lesion": None}
    for kind in ("cord", "lesion"):
        path = getattr(row, kind)
        if path is not None and not pd.isna(path):
            out[kind] = to_rpi(*load_mask(path))[0]
    return out


def busiest_slice(volume: dict) -> int:
    """Axial slice index (RPI axis 2) with the most lesion voxels, else the most cord voxels, else the middle."""
    for kind in ("lesion", "cord"):
        mask = volume.get(kind)
        if mask is not None and mask.any():
            return int(np.argmax(mask.sum(axis=(0, 1))))
    return volume["image"].shape[2] // 2


def draw_axial(ax, volume: dict, k: int) -> None:
    """Draw axial slice ``k`` of an RPI volume on ``ax``: image in grey, cord contour cyan, lesion contour red.

    Radiological view: the patient's right on the viewer's left, anterior up; axes in mm.
    """
    vx, vy = volume["voxel_mm"][:2]
    nx, ny = volume["image"].shape[:2]
    extent = (-0.5 * vx, (nx - 0.5) * vx, -0.5 * vy, (ny - 0.5) * vy)
    ax.imshow(volume["image"][:, :, k].T, cmap="gray", origin="lower", extent=extent, interpolation="nearest")
    x = np.arange(nx) * vx
    y = np.arange(ny) * vy
    for kind, colour in (("cord", "cyan"), ("lesion", "red")):
        mask = volume.get(kind)
        if mask is not None and mask[:, :, k].any():
            ax.contour(x, y, mask[:, :, k].T.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
    ax.set_aspect("equal")
    ax.set_xlabel("R -> L (mm)")
    ax.set_ylabel("P -> A (mm)")


def plot_axial(volume: dict, k: int | None = None, title: str = "") -> Figure:
    """A static axial panel (see :func:`draw_axial`); ``k`` defaults to :func:`busiest_slice`."""
    k = busiest_slice(volume) if k is None else k
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    draw_axial(ax, volume, k)
    ax.set_title(f"{title} slice {k}".strip(), fontsize=9)
    fig.tight_layout()
    return fig


def row_label(row) -> str:
    """Short label of a dataset row, e.g. ``sub-tum001 ses-20200101 chunk 1``."""
    parts = [row.participant_id]
    if not pd.isna(row.session):
        parts.append(row.session)
    if not pd.isna(row.chunk):
        parts.append(f"chunk {row.chunk}")
    return " ".join(parts)


def slice_browser(dataset: pd.DataFrame):
    """An ipywidgets browser: a dropdown over images and a slider over axial slices, with cord/lesion contours.

    Interactive in a live Jupyter kernel; in a rendered book (no kernel) it shows as a static widget.

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets

    labels = [(row_label(r), i) for i, r in enumerate(dataset.itertuples(index=False))]
    choose = widgets.Dropdown(options=labels, value=0, description="image")
    slider = widgets.IntSlider(min=0, max=1, value=0, description="axial slice", continuous_update=False)
    output = widgets.Output()
    cache: dict[int, dict] = {}

    def volume(index: int) -> dict:
        if index not in cache:
            cache.clear()
            cache[index] = load_rpi(next(dataset.iloc[[index]].itertuples(index=False)))
        return cache[index]

    def draw(*_):
        current = volume(choose.value)
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            draw_axial(ax, current, slider.value)
            ax.set_title(f"{choose.label}, slice {slider.value}", fontsize=9)
            plt.show()

    def on_image(*_):
        current = volume(choose.value)
        slider.unobserve(draw, names="value")
        slider.max = current["image"].shape[2] - 1
        slider.value = busiest_slice(current)
        slider.observe(draw, names="value")
        draw()

    choose.observe(on_image, names="value")
    slider.observe(draw, names="value")
    on_image()
    return widgets.VBox([widgets.HBox([choose, slider]), output])
