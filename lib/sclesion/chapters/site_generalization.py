"""The site generalization chapter (notebook 08, paper 3.4, Table 2, Fig 9, Tables A2-A3).

=====================  ==============================================================================
function               what it gives
=====================  ==============================================================================
test_images            the test images of every site (TUM-like test subjects, the unseen BWH and UCSF sites)
baseline_test_sets     the baseline lesion method run on every test site: SCT's sct_deepseg_lesion when
                       installed, else the classical lesion detector (a stand-in, its threshold fitted on
                       training images only)
score                  the baseline's test sets scored into the results store (TUM also per stacked session)
table2_scores          per site, method and image (TUM: stacked session) the five metrics of Table 2, fold 0
table2                 Table 2 in the paper's layout, mean +- SD, the paper's value beside every cell
directions             does adding the second training site help, here and in the paper, per site and metric
site_statistics        per site and metric: Kruskal-Wallis over the three methods, Dunn/Holm over the pairs
figure9_rows           per site, the test image with the most reference lesions and every method's prediction
appendix               Tables A2 and A3 as printed, with what can and cannot be recomputed
verdict                what the paper found and whether these data agree, as text
=====================  ==============================================================================

Table 2 as the authors computed it (book/methods.md): mean +- SD (ddof 1) over the test images of each site (TUM:
stacked sessions), the nnU-Net models with fold 0; each metric rounded to 3 decimals before averaging; lesion
of a region prediction = label > 1; |n_ref - n_pred| per image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.baselines import lesion_standin, sct
from sclesion.core.nifti import load_nifti, read_data, to_rpi, voxel_sizes
from sclesion.core.provenance import OutputSet
from sclesion.data import paper as paper_tables
from sclesion.data.bids import discover
from sclesion.data.split import attach_split
from sclesion.evaluation import store
from sclesion.evaluation.stats import dunn_holm, kruskal_wallis

#: The study's two models of Table 2: trained on the TUM chunks, and on the TUM and NYU chunks.
SINGLE_SITE: tuple[str, str] = ("chunks_native", "2d")
TWO_SITES: tuple[str, str] = ("chunks_two_sites", "2d")
#: The test sites, in the order of Table 2.
SITES: tuple[str, ...] = ("TUM", "BWH", "UCSF")
#: The metrics of Table 2, in its order (lesion label).
METRICS: tuple[str, ...] = ("Dice", "NSD", "PPVL", "F1ScoreL", "abs_delta_lesion_count")
#: Display names of the three columns.
SINGLE_SITE_NAME, TWO_SITES_NAME = "ChunksNative SingleSite", "ChunksNative TwoSites"
STANDIN_NAME = "classical lesion detector (stand-in)"
#: SCT's method of the paper's baseline column (a key of :data:`sclesion.baselines.sct.METHODS`).
SCT_BASELINE = "deepseglesion"
#: The paper's Table 2 column prefixes, per method column.
PAPER_COLUMNS: dict[str, str] = {"baseline": "sct_deepseg_lesion", SINGLE_SITE_NAME: "chunksnative_singlesite",
                                 TWO_SITES_NAME: "chunksnative_twosites"}
#: Columns of :func:`table2_scores`.
SCORE_COLUMNS: list[str] = ["site", "method", "column", "image", *METRICS, "prediction", "reference"]


def test_images(bids_root: str | Path, split: pd.DataFrame) -> pd.DataFrame:
    """The test images of every site (columns of :func:`sclesion.data.bids.discover` plus ``split``)."""
    images = attach_split(discover(bids_root, require_labels=True), split)
    chosen = images[(images["split"] == "test") & images["site"].isin(SITES)]
    return chosen.sort_values(["site", "image"]).reset_index(drop=True)


def fit_standin(bids_root: str | Path, split: pd.DataFrame, work_dir: str | Path, sites: tuple[str, ...] = ("TUM",),
                progress: bool = True) -> lesion_standin.LesionStandinParameters:
    """Fit the lesion stand-in on the training images of the training sites, or read the stored fit.

    The fit (a deterministic grid search, :func:`sclesion.baselines.lesion_standin.fit`) sees training images only,
    with the cord stand-in's cord as at test time; it is kept in
    ``<work_dir>/comparison/lesion/lesionstandin_parameters.json`` and redone only when a training image or
    reference changes.
    """
    images = attach_split(discover(bids_root, require_labels=True), split)
    train = images[(images["split"] == "train") & images["site"].isin(sites)].sort_values("image")
    cases = [lesion_standin.TrainingCase(image=Path(r.image), cord=None, lesion=Path(r.lesion))
             for r in train.itertuples(index=False)]
    path = Path(work_dir) / "comparison" / "lesion" / "lesionstandin_parameters.json"
    inputs = [p for case in cases for p in (case.image, case.lesion)]
    outputs = OutputSet("fit lesion stand-in", [path], inputs, {"version": lesion_standin.VERSION})
    if outputs.up_to_date():
        return lesion_standin.LesionStandinParameters.load(path)
    parameters = lesion_standin.fit(cases, progress=progress)
    with outputs.writing():
        parameters.save(path)
    return parameters


def baseline_test_sets(images: pd.DataFrame, bids_root: str | Path, split: pd.DataFrame, work_dir: str | Path,
                       use_sct: bool | None = None, jobs: int = 1,
                       progress: bool = True) -> tuple[list[store.TestSet], lesion_standin.LesionStandinParameters | None]:
    """Run the baseline on the test images of every site; return its test sets (and the stand-in's fit).

    With SCT (``use_sct``; default: when ``sct_deepseg_lesion`` is on PATH) the baseline is the paper's
    ``sct_deepseg_lesion -c t2_ax -centerline svm -brain 0`` after reorientation to RPI; without it, the
    classical lesion detector (:mod:`sclesion.baselines.lesion_standin`), fitted by :func:`fit_standin`.
    Outputs go to ``<work_dir>/comparison/lesion/<method>/<site>/``.
    """
    if use_sct is None:
        use_sct = sct.sct_available([SCT_BASELINE])
    out = Path(work_dir) / "comparison" / "lesion"
    parameters = None if use_sct else fit_standin(bids_root, split, work_dir, progress=progress)
    sets = []
    for site, part in images.groupby("site", sort=False):
        paths = [Path(p) for p in part["image"]]
        if use_sct:
            folder = out / SCT_BASELINE / site
            sct.run_method(SCT_BASELINE, paths, folder, progress=progress)
            name, kind = sct.METHODS[SCT_BASELINE].name, "sct"
        else:
            folder = out / "lesionstandin" / site
            lesion_standin.run(paths, folder, parameters, jobs=jobs, progress=progress)
            name, kind = STANDIN_NAME, "stand-in"
        sets.append(store.TestSet(method=name, kind=kind, site=str(site), predictions=folder,
                                  references=Path(bids_root), n_images=len(paths)))
    return sets, parameters


def score(test_sets: list[store.TestSet], work_dir: str | Path, jobs: int = 1, progress: bool = True) -> store.Results:
    """Score the baseline's test sets (lesion only) into the results store: per image, TUM also per session."""
    parts = [(t, "image") for t in test_sets] + [(t, "session") for t in test_sets if t.site == "TUM"]
    return store.build(parts, work_dir, labels=("lesion",), jobs=jobs, progress=progress)


def table2_scores(metrics: pd.DataFrame, fold: int = 0) -> pd.DataFrame:
    """Per site, method and test image (TUM: stacked session), the metrics of Table 2, rounded to 3 decimals.

    Methods: the baseline (SCT or its stand-in), :data:`SINGLE_SITE` and :data:`TWO_SITES` with ``fold``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCORE_COLUMNS`; ``column`` is ``baseline``, :data:`SINGLE_SITE_NAME` or
        :data:`TWO_SITES_NAME`; ``method`` the method's own name.
    """
    lesion = metrics[(metrics["label"] == "lesion") & metrics["site"].isin(SITES)]
    scoring = np.where(lesion["site"] == "TUM", "session", "image")
    lesion = lesion[lesion["scoring"] == scoring]
    parts = []
    for column, (dataset, configuration) in ((SINGLE_SITE_NAME, SINGLE_SITE), (TWO_SITES_NAME, TWO_SITES)):
        chosen = lesion[(lesion["dataset"] == dataset) & (lesion["configuration"] == configuration)
                        & (lesion["kind"] == "model") & (lesion["fold"] == fold)]
        parts.append(chosen.assign(column=column))
    parts.insert(0, lesion[lesion["kind"].isin(["sct", "stand-in"])].assign(column="baseline"))
    table = pd.concat(parts, ignore_index=True)
    for metric in METRICS:
        table[metric] = pd.to_numeric(table[metric], errors="coerce").round(3)
    order = {site: i for i, site in enumerate(SITES)}
    table = table.sort_values(["site", "column"], key=lambda s: s.map(order) if s.name == "site" else s, kind="stable")
    return table[SCORE_COLUMNS].reset_index(drop=True)


def table2(scores: pd.DataFrame) -> pd.DataFrame:
    """Table 2 in the paper's layout, ours beside the paper's, cell by cell.

    Returns
    -------
    pandas.DataFrame
        Indexed by (site, metric); per column (baseline, single site, two sites) ``<column>`` as ``"mean ± SD"``
        (SD with ddof 1; NaN values, such as NSD of an image where both masks are empty, left out), and
        ``<column> (paper)`` as printed; ``n`` (ours) and ``n (paper)`` images.
    """
    paper = paper_tables.table2_full().set_index(["test_site", "metric"])
    rows = []
    for site in SITES:
        part = scores[scores["site"] == site]
        for metric in METRICS:
            row = {"site": site, "metric": metric, "n": part["image"].nunique()}
            for column, prefix in PAPER_COLUMNS.items():
                values = part.loc[part["column"] == column, metric].dropna()
                row[column] = f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else "n/a"
                key = (site, metric)
                row[f"{column} (paper)"] = (f"{paper.loc[key, prefix + '_mean']:.2f} ± {paper.loc[key, prefix + '_sd']:.2f}"
                                            if key in paper.index else "n/a")
            row["n (paper)"] = int(paper.loc[(site, metric), "n_images"]) if (site, metric) in paper.index else np.nan
            rows.append(row)
    columns = ["site", "metric", "n"] + [c for name in PAPER_COLUMNS for c in (name, f"{name} (paper)")] + ["n (paper)"]
    return pd.DataFrame(rows, columns=columns).set_index(["site", "metric"])


def directions(scores: pd.DataFrame) -> pd.DataFrame:
    """Per site and metric: the two-site model minus the single-site model, here and in the paper.

    For |n_ref - n_pred| lower is better, so "helps" means a negative difference there.

    Returns
    -------
    pandas.DataFrame
        Indexed by (site, metric): ``ours`` and ``paper`` (differences of the means), ``helps_here``,
        ``helps_in_paper``, ``same_direction``.
    """
    paper = paper_tables.table2_full().set_index(["test_site", "metric"])
    rows = []
    for site in SITES:
        part = scores[scores["site"] == site]
        for metric in METRICS:
            ours = (part.loc[part["column"] == TWO_SITES_NAME, metric].mean()
                    - part.loc[part["column"] == SINGLE_SITE_NAME, metric].mean())
            theirs = (paper.loc[(site, metric), "chunksnative_twosites_mean"]
                      - paper.loc[(site, metric), "chunksnative_singlesite_mean"])
            sign = -1 if metric == "abs_delta_lesion_count" else 1
            here = bool(sign * ours > 0) if np.isfinite(ours) else np.nan
            there = bool(sign * theirs > 0)
            rows.append({"site": site, "metric": metric, "ours": ours, "paper": theirs, "helps_here": here,
                         "helps_in_paper": there, "same_direction": here == there if np.isfinite(ours) else np.nan})
    return pd.DataFrame(rows).set_index(["site", "metric"])


def site_statistics(scores: pd.DataFrame) -> pd.DataFrame:
    """Per site and metric: Kruskal-Wallis over the three columns, then Dunn/Holm over their pairs.

    Returns
    -------
    pandas.DataFrame
        One row per site, metric and pair: ``site``, ``metric``, ``kruskal_p``, ``group1``, ``group2``, ``p``
        (Holm-adjusted), ``stars``.
    """
    rows = []
    for site in SITES:
        part = scores[scores["site"] == site]
        for metric in METRICS:
            data = part.dropna(subset=[metric])
            order = [c for c in PAPER_COLUMNS if c in set(data["column"])]
            if len(order) < 2:
                continue
            kruskal = kruskal_wallis(data, metric, "column")
            for pair in dunn_holm(data, metric, "column", order=order).itertuples(index=False):
                rows.append({"site": site, "metric": metric, "kruskal_p": kruskal["p"], "group1": pair.group1,
                             "group2": pair.group2, "p": pair.p, "stars": pair.stars})
    return pd.DataFrame(rows, columns=["site", "metric", "kruskal_p", "group1", "group2", "p", "stars"])


def figure9_rows(metrics: pd.DataFrame, fold: int = 0):
    """Per site, the test image with the most reference lesions and every method's predicted lesions on it.

    Returns
    -------
    list of sclesion.figures.predictions.SitePrediction
        One per site that has scores of all three columns; arrays in RPI, spacing in mm.
    """
    from sclesion.figures.predictions import SitePrediction

    lesion = metrics[(metrics["label"] == "lesion") & (metrics["scoring"] == "image") & metrics["site"].isin(SITES)]
    columns = {"baseline": lesion["kind"].isin(["sct", "stand-in"])}
    for column, (dataset, configuration) in ((SINGLE_SITE_NAME, SINGLE_SITE), (TWO_SITES_NAME, TWO_SITES)):
        columns[column] = ((lesion["dataset"] == dataset) & (lesion["configuration"] == configuration)
                           & (lesion["kind"] == "model") & (lesion["fold"] == fold))
    rows = []
    for site in SITES:
        here = lesion["site"] == site
        chosen = {c: lesion[here & mask] for c, mask in columns.items()}
        if any(part.empty for part in chosen.values()):
            continue
        single = chosen[SINGLE_SITE_NAME]
        best = single.sort_values(["RefLesionsCount", "image"], ascending=[False, True]).iloc[0]
        image_path = Path(str(best["reference"]).split(";")[0].replace("derivatives/labels/", "")
                          .replace("_lesion-manual", ""))
        image, affine = _rpi(image_path)
        reference, _ = _rpi(str(best["reference"]).split(";")[0])
        predictions = {}
        for column, part in chosen.items():
            row = part[part["image"] == best["image"]]
            if len(row):
                name = row["method"].iloc[0] if column == "baseline" else column
                predictions[name] = _rpi(str(row["prediction"].iloc[0]).split(";")[0], lesion=True)[0]
        rows.append(SitePrediction(site=f"{site}: {best['image']}", image=image,
                                   spacing=tuple(float(z) for z in voxel_sizes(affine)), reference=reference > 0,
                                   predictions=predictions))
    return rows


def appendix(name: str) -> tuple[pd.DataFrame, str]:
    """Table A2 or A3 as printed, with a note on what can and cannot be recomputed here."""
    table = paper_tables.appendix_table(name)
    notes = {
        "A2": ("Table A2 adds SCT's `sct_deepseg -task seg_ms_lesion` (SCT 6.5), a 3D nnU-Net whose training data "
               "included part of these test scans, so its scores are biased upwards. With SCT installed, "
               "`sclesion.baselines.sct` runs it (`segmslesion`). One cell cannot be right as printed: the TUM "
               "|n_ref - n_pred| of seg_ms_lesion, 2.29 ± 0.14: with integer counts per image, a mean of 2.29 over "
               "126 images needs differences spread over several integers, so the SD cannot be as small as 0.14 "
               "(a transcription error in the paper)."),
        "A3": ("Table A3 repeats the comparison on the test scans that no compared model was trained on. Which "
               "scans these are depends on seg_ms_lesion's training split, which is not public, so the subset "
               "cannot be rebuilt: the table is printed, not recomputed."),
    }
    return table, notes[name]


def verdict(scores: pd.DataFrame, direction: pd.DataFrame, synthetic: bool) -> str:
    """Markdown bullets: the paper's findings of section 3.4 and whether these scores agree, with the reason."""
    if scores.empty:
        return "No scores of the three methods in the results store: nothing to compare."
    means = scores.groupby(["site", "column"])["Dice"].mean().unstack("column")
    lines = []
    if {"baseline", SINGLE_SITE_NAME}.issubset(means.columns):
        better = [s for s in means.index if means.loc[s, SINGLE_SITE_NAME] > means.loc[s, "baseline"]]
        lines.append("* **The study's models beat the baseline.** The paper: both chunk models significantly better "
                     f"than sct_deepseg_lesion on every site. Here the single-site model has the higher mean Dice on "
                     f"{len(better)} of {len(means)} sites ({', '.join(better) or 'none'}).")
    unseen = direction.loc[[s for s in ("BWH", "UCSF") if s in direction.index.get_level_values(0)]]
    if len(unseen):
        helps = int(unseen["helps_here"].fillna(False).sum())
        lines.append("* **A second training site helps on unseen sites.** The paper: the two-site model is better "
                     "than the single-site one on BWH and UCSF for every metric (not significantly), and no worse on "
                     f"TUM. Here it helps in {helps} of {len(unseen)} (site, metric) cells of the unseen sites; the "
                     f"direction agrees with the paper's in {int(unseen['same_direction'].fillna(False).sum())}.")
    if synthetic:
        lines.append("* **Why the demo can differ.** The unseen synthetic sites differ from TUM by scanner contrast, "
                     "noise and voxel size as described in `data_manifest/sites/`, not by the clinical differences of "
                     "real sites; the baseline is a stand-in, not sct_deepseg_lesion; and ten images per site give "
                     "wide intervals.")
    return "\n".join(lines)


def _rpi(path, lesion: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """An image (or a mask: nonzero, or label > 1 of a region label map) reoriented to RPI, with its affine."""
    img = load_nifti(path)
    data = read_data(img, path, dtype=None)
    if lesion:
        data = data > 1 if data.max() > 1 else data > 0
    return to_rpi(np.asarray(data), img.affine)
