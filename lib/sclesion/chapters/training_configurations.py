"""The tables of the training chapter (notebook 04): datasets, settings, plans, full S-I patches, test metrics.

=====================  ==============================================================================
function               what it gives
=====================  ==============================================================================
paper_image_counts     the paper's TUM training and test images, chunks and stitched
last_epochs            per trained model: epochs, minutes and the last epoch's losses and pseudo Dice
variants_table         per dataset and site: training and test images and subjects, typical shape, spacing
settings_changes       the profile's nnU-Net settings that differ from another profile's (the paper's)
grid_plans_table       Table A1 rows of every dataset and configuration of the grid, read from the plans
full_si_table          per dataset: the 3d_fullres patch beside the full superior-inferior (S-I) patch
index_rows             the rows of the prediction index that belong to a grid
score_grid             every test set of the index scored into the results store (per image and session)
grid_summary           metric means per dataset, configuration, site and label
pooled_detection       lesions found and predicted lesions that are true, pooled over each test set
headline               one model on one test set beside the demo's acceptance bars and the paper's values
=====================  ==============================================================================

Axis order: shapes, voxel sizes and patches are listed in nnU-Net's plans order for our RPI images,
``(S-I, P-A, R-L)``, the order of the paper's Table A1 (thick slices first).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.core.errors import InputError
from sclesion.evaluation import store
from sclesion.evaluation.store import Results
from sclesion.core.nifti import load_nifti, voxel_sizes
from sclesion.nnunet.convert import read_cases
from sclesion.nnunet.datasets import NnunetFolders, dataset_spec
from sclesion.nnunet.preprocess import plans_path
from sclesion.nnunet.plans import (
    FULL_SI, load_plans, plans_table, read_json, resolve_configuration, si_extents_mm, superior_inferior_axis,
)
from sclesion.nnunet.settings import NnunetSettings
from sclesion.data import paper as paper_tables

#: Columns of :func:`variants_table`.
VARIANT_COLUMNS: list[str] = [
    "dataset", "name", "variant", "training_sites", "site", "n_training", "n_test", "training_subjects",
    "test_subjects", "shape", "spacing_mm",
]
#: Settings compared by :func:`settings_changes` (the ones that change the method; not workers or paths).
METHOD_SETTINGS: tuple[str, ...] = (
    "folds", "n_folds", "trainer", "epochs", "iterations_per_epoch", "val_iterations_per_epoch",
    "oversample_foreground", "learning_rate", "optimizer", "lesion_oversample", "plans", "base_features",
    "max_features", "max_stages", "batch_size", "max_patch", "device", "tile_batch", "tile_step",
)
#: Columns identifying a test set in the prediction index and in :func:`score_grid`'s metrics table.
GRID_COLUMNS: list[str] = ["dataset", "variant", "configuration", "fold", "site"]
#: Metrics averaged by :func:`grid_summary`.
SUMMARY_METRICS: tuple[str, ...] = ("Dice", "NSD", "RVE", "PPVL", "SensL", "F1ScoreL", "abs_delta_lesion_count")
#: Metrics that describe each label (the lesion-wise ones mean nothing for the cord, one component).
LABEL_METRICS: dict[str, tuple[str, ...]] = {
    "cord": ("Dice", "NSD", "RVE"),
    "lesion": ("Dice", "NSD", "PPVL", "SensL", "F1ScoreL", "abs_delta_lesion_count"),
}
#: Columns of :func:`pooled_detection`.
POOLED_COLUMNS: list[str] = [
    "n_images", "lesion_free_images", "lesion_free_with_prediction", "ref_lesions", "lesions_found",
    "found_fraction", "pred_lesions", "pred_true", "true_fraction",
]
#: Acceptance bars of the demo's 2d chunks_native model on the TUM test set, (label, metric) -> lowest mean: below
#: them the short CPU schedule has not learned the task, and the chapter says so.
TARGETS: dict[tuple[str, str], float] = {("cord", "Dice"): 0.85, ("lesion", "F1ScoreL"): 0.5}
#: Rows of :func:`headline` that are means (or medians) of a metric: (label, metric, statistic, quantity).
HEADLINE_METRICS: list[tuple[str, str, str, str]] = [
    ("cord", "Dice", "mean", "cord Dice"),
    ("lesion", "Dice", "mean", "lesion Dice"),
    ("lesion", "Dice", "median", "lesion Dice, median"),
    ("lesion", "F1ScoreL", "mean", "lesion-wise F1"),
    ("lesion", "PPVL", "mean", "lesion-wise PPV"),
]
#: Columns of :func:`headline`.
HEADLINE_COLUMNS: list[str] = [
    "quantity", "per_image", "per_session", "detail", "target", "meets_target", "paper", "paper_sd", "paper_source",
]


# --- datasets, settings and plans ------------------------------------------------------------------------


def image_geometry(path: str | Path) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Shape (voxels) and voxel size (mm) of a converted nnU-Net image, in plans order ``(S-I, P-A, R-L)``.

    Parameters
    ----------
    path : str or Path
        An image of an nnU-Net raw folder; conversion stores them RPI (axes R-L, P-A, I-S), reversed here.

    Raises
    ------
    InputError
        If the file is missing or not a 3D NIfTI image.
    """
    img = load_nifti(path)
    return tuple(int(n) for n in img.shape[::-1]), tuple(float(z) for z in voxel_sizes(img.affine)[::-1])


def _tuple_text(values, digits: int = 2) -> str:
    """``(64, 1.1, 3)``-style text, as in Table A1 (rounded, trailing zeros dropped)."""
    return "(" + ", ".join(f"{round(float(v), digits):g}" for v in values) + ")"


def variants_table(prepared: pd.DataFrame, work_dir: str | Path) -> pd.DataFrame:
    """The converted datasets side by side: per dataset and site, the images and their typical geometry.

    Parameters
    ----------
    prepared : pandas.DataFrame
        :func:`sclesion.nnunet.runner.prepare`'s output (column ``dataset``: dataset keys, in grid order).
    work_dir : str or Path
        The work folder holding ``nnunet/raw/<dataset>/cases.tsv`` and the converted images.

    Returns
    -------
    pandas.DataFrame
        One row per dataset and site present in it (training sites first), columns :data:`VARIANT_COLUMNS`:
        ``n_training`` / ``n_test`` images and ``training_subjects`` / ``test_subjects`` (a training-only site
        has ``n_test`` 0), ``shape`` (median per axis, voxels) and ``spacing_mm`` (median per axis, mm) of the
        site's images, both in plans order ``(S-I, P-A, R-L)``.

    Raises
    ------
    InputError
        If a dataset is not converted yet.
    """
    folders = NnunetFolders(Path(work_dir))
    rows = []
    for key in prepared["dataset"]:
        spec = dataset_spec(key)
        folder = folders.raw / spec.name
        cases = read_cases(folder)
        geometry = [image_geometry(folder / subset / f"{case}_0000.nii.gz")
                    for subset, case in zip(cases["subset"], cases["case_id"])]
        cases = cases.assign(site=cases["site"].fillna("unknown"), training=cases["subset"] == "imagesTr")
        shapes = np.array([g[0] for g in geometry], dtype=float).reshape(len(cases), -1)
        spacings = np.array([g[1] for g in geometry], dtype=float).reshape(len(cases), -1)
        others = sorted(set(cases["site"]) - set(spec.train_sites))
        for site in [s for s in spec.train_sites if s in set(cases["site"])] + others:
            here = (cases["site"] == site).to_numpy()
            train, test = cases[here & cases["training"].to_numpy()], cases[here & ~cases["training"].to_numpy()]
            rows.append({
                "dataset": spec.key, "name": spec.name, "variant": spec.variant,
                "training_sites": ", ".join(spec.train_sites), "site": site,
                "n_training": len(train), "n_test": len(test),
                "training_subjects": train["participant_id"].nunique(),
                "test_subjects": test["participant_id"].nunique(),
                "shape": _tuple_text(np.rint(np.median(shapes[here], axis=0))),
                "spacing_mm": _tuple_text(np.median(spacings[here], axis=0)),
            })
    return pd.DataFrame(rows, columns=VARIANT_COLUMNS)


def _setting_text(value) -> str:
    if value is None:
        return "nnU-Net's plans"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_setting_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def schedule_text(settings: NnunetSettings) -> str:
    """The training schedule in words, e.g. ``"8 epochs (2d) or 16 epochs (3d_fullres) of 50 iterations (400 or 800
    iterations)"``; one number when every configuration trains as long."""
    epochs = {c: settings.epochs_of(c) for c in settings.configurations} or {"": settings.epochs_of("")}
    its = settings.iterations_per_epoch
    if len(set(epochs.values())) == 1:
        n = next(iter(epochs.values()))
        return f"{n} epoch(s) of {its} iterations ({n * its:,} iterations)"
    return (" or ".join(f"{n} epochs ({c})" for c, n in epochs.items()) + f" of {its} iterations ("
            + " or ".join(f"{n * its:,}" for n in epochs.values()) + " iterations)")


def settings_changes(settings: NnunetSettings, reference: NnunetSettings) -> pd.DataFrame:
    """The method settings (:data:`METHOD_SETTINGS`) in which a profile differs from a reference profile.

    Parameters
    ----------
    settings : NnunetSettings
        The profile in use (e.g. demo).
    reference : NnunetSettings
        What to compare with (e.g. the paper profile, nnU-Net's defaults as the authors trained).

    Returns
    -------
    pandas.DataFrame
        One row per differing setting: ``setting`` (the profile key, ``nnunet_<name>``), ``value`` and
        ``reference`` as text (``"nnU-Net's plans"`` where a small-network size is unset).
    """
    rows = []
    for name in METHOD_SETTINGS:
        ours, theirs = getattr(settings, name), getattr(reference, name)
        if ours != theirs:
            rows.append({"setting": f"nnunet_{name}", "value": _setting_text(ours), "reference": _setting_text(theirs)})
    return pd.DataFrame(rows, columns=["setting", "value", "reference"])


def grid_plans_table(work_dir: str | Path, grid: dict[str, tuple[str, ...]], plans_name: str) -> pd.DataFrame:
    """Table A1 rows (:data:`sclesion.nnunet.plans.TABLE_A1_COLUMNS`) of every dataset and configuration.

    Parameters
    ----------
    work_dir : str or Path
        The work folder (plans under ``nnunet/preprocessed/<dataset>/<plans_name>.json``).
    grid : dict of str to tuple of str
        Dataset key -> configurations, e.g. ``settings.grid``; the ``variant`` column holds the dataset key.
    plans_name : str
        ``nnUNetPlans`` (nnU-Net's plans, as the paper) or the profile's small-network plans.

    Raises
    ------
    InputError
        If a plans file is missing (plan the dataset first) or lacks a configuration.
    """
    parts = [plans_table(load_plans(plans_path(work_dir, dataset_spec(key), plans_name)), key, tuple(configurations))
             for key, configurations in grid.items()]
    return pd.concat(parts, ignore_index=True)


def full_si_table(work_dir: str | Path, datasets: list[str], plans_name: str) -> pd.DataFrame:
    """Per dataset, the 3d_fullres patch beside the full S-I patch (:data:`~sclesion.nnunet.plans.FULL_SI`).

    The S-I extent of the training images comes from nnU-Net's dataset fingerprint (images after cropping to
    their nonzero region).

    Parameters
    ----------
    work_dir : str or Path
        The work folder.
    datasets : list of str
        Dataset keys (or ids).
    plans_name : str
        Plans to read (``nnUNetPlans`` or the profile's small-network plans).

    Returns
    -------
    pandas.DataFrame
        One row per dataset: ``dataset``, ``patch_3d_fullres`` and ``patch_full_si`` (voxels, plans order
        ``(S-I, P-A, R-L)``), ``si_spacing_mm``, ``patch_si_mm`` and ``full_si_mm`` (S-I extent of each patch),
        ``median_image_si_mm`` and ``max_image_si_mm`` (training images), and ``patch_covers`` = ``patch_si_mm``
        / ``median_image_si_mm``, the share of a typical image's S-I extent one 3d_fullres patch sees (capped at 1).

    Raises
    ------
    InputError
        If the plans or the fingerprint of a dataset are missing, or the plans lack either configuration.
    """
    folders = NnunetFolders(Path(work_dir))
    rows = []
    for key in datasets:
        spec = dataset_spec(key)
        plans = load_plans(plans_path(work_dir, spec, plans_name))
        fingerprint = read_json(folders.preprocessed / spec.name / "dataset_fingerprint.json",
                                "not found; plan the dataset first (sclesion plan)")
        axis = superior_inferior_axis(plans)
        extents = np.array(si_extents_mm(plans, fingerprint))
        parent, full = resolve_configuration(plans, "3d_fullres"), resolve_configuration(plans, FULL_SI)
        spacing = float(parent["spacing"][axis])
        patch_mm = parent["patch_size"][axis] * spacing
        median = float(np.median(extents))
        rows.append({
            "dataset": spec.key, "patch_3d_fullres": _tuple_text(parent["patch_size"]),
            "patch_full_si": _tuple_text(full["patch_size"]), "si_spacing_mm": round(spacing, 2),
            "patch_si_mm": round(patch_mm, 1), "full_si_mm": round(full["patch_size"][axis] * spacing, 1),
            "median_image_si_mm": round(median, 1), "max_image_si_mm": round(float(extents.max()), 1),
            "patch_covers": round(min(1.0, patch_mm / median), 2),
        })
    columns = ["dataset", "patch_3d_fullres", "patch_full_si", "si_spacing_mm", "patch_si_mm", "full_si_mm",
               "median_image_si_mm", "max_image_si_mm", "patch_covers"]
    return pd.DataFrame(rows, columns=columns)


# --- evaluating the test sets ----------------------------------------------------------------------------


def index_rows(index: pd.DataFrame, train_jobs: list) -> pd.DataFrame:
    """The rows of the prediction index (:func:`sclesion.nnunet.runner.read_index`) of the given jobs.

    The index keeps the rows of every model ever predicted in the work folder; this keeps those of one grid
    (:class:`sclesion.nnunet.jobs.TrainJob` objects, matched on dataset, configuration and fold).
    """
    wanted = {(job.dataset, job.configuration, int(job.fold)) for job in train_jobs}
    keep = [key in wanted for key in zip(index["dataset"], index["configuration"], index["fold"].astype(int))]
    return index[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def score_grid(index: pd.DataFrame, work_dir: str | Path, jobs: int = 1, progress: bool = True) -> Results:
    """Score every test set of the prediction index into the results store (:mod:`sclesion.evaluation.store`).

    Every test set is scored per image; the test sets of chunk datasets also per stacked session (paper
    Algorithm 1). A test set whose predictions and references did not change is read back, not scored again.

    Parameters
    ----------
    index : pandas.DataFrame
        Rows of the prediction index (:data:`sclesion.nnunet.runner.INDEX_COLUMNS`).
    work_dir : str or Path
        The work folder holding the store (``results/``).
    jobs : int, default 1
        Worker processes of each evaluation.
    progress : bool, default True
        A progress bar over the test sets.

    Returns
    -------
    sclesion.evaluation.store.Results
        ``metrics``: :data:`sclesion.evaluation.store.SET_COLUMNS`, ``scoring``, ``image``, then
        :data:`sclesion.evaluation.evaluate.METRIC_TABLE_COLUMNS`; ``lesions``; ``status`` (evaluated or kept).

    Raises
    ------
    InputError
        If any file is refused or left unpaired, or fewer images are scored than the index lists.
    """
    parts = []
    for test_set in store.model_test_sets(index):
        parts.append((test_set, "image"))
        if test_set.variant.startswith("chunks"):
            parts.append((test_set, "session"))
    return store.build(parts, work_dir, jobs=jobs, progress=progress)


def grid_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric (:data:`SUMMARY_METRICS`) per dataset, configuration, site and label.

    Parameters
    ----------
    metrics : pandas.DataFrame
        :func:`score_grid`'s metrics table.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``configuration``, ``site``, ``label``, ``n`` (images x folds averaged), ``folds``, then
        the metric means (NaN values, e.g. NSD with both masks empty, left out), in the order of the input.
    """
    keys = ["dataset", "configuration", "site", "label"]
    if metrics.empty:
        return pd.DataFrame(columns=keys + ["n", "folds"] + list(SUMMARY_METRICS))
    values = metrics[list(SUMMARY_METRICS)].apply(pd.to_numeric, errors="coerce")
    grouped = values.groupby([metrics[k] for k in keys], sort=False)
    counts = metrics.groupby(keys, sort=False).agg(n=("image", "size"), folds=("fold", "nunique"))
    return counts.join(grouped.mean()).reset_index()


def pooled_detection(metrics: pd.DataFrame, by: tuple[str, ...] = ("dataset", "configuration", "site")) -> pd.DataFrame:
    """Lesion detection pooled over each test set: lesions found out of all, predicted lesions that are true.

    Means of per-image lesion scores reward a model that predicts nothing on lesion-free images (F1 = 1 when
    both masks are empty). Pooled counts do not: they only count lesions.

    Parameters
    ----------
    metrics : pandas.DataFrame
        :func:`score_grid`'s metrics table (its ``lesion`` rows are used: ``RefLesionsCount``, ``LesionTP``,
        ``PredLesionsCount``, ``LesionFP``, as :func:`sclesion.evaluation.metrics.match_lesions` counts them).
    by : tuple of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        ``*by``, then :data:`POOLED_COLUMNS`: ``n_images``; ``lesion_free_images`` (reference without lesion)
        and ``lesion_free_with_prediction`` (of those, images with a predicted lesion); ``ref_lesions``,
        ``lesions_found`` (reference lesions with >= 10% of their voxels predicted) and ``found_fraction``;
        ``pred_lesions`` (predicted components), ``pred_true`` (those touching a reference lesion) and
        ``true_fraction``. A fraction with a zero denominator is NaN.
    """
    by = list(by)
    lesion = metrics[metrics["label"] == "lesion"]
    if lesion.empty:
        return pd.DataFrame(columns=by + POOLED_COLUMNS)
    counts = lesion[["RefLesionsCount", "LesionTP", "PredLesionsCount", "LesionFP"]].astype(int)
    lesion_free = counts["RefLesionsCount"] == 0
    frame = pd.DataFrame({
        "n_images": 1,
        "lesion_free_images": lesion_free.astype(int),
        "lesion_free_with_prediction": (lesion_free & (counts["PredLesionsCount"] > 0)).astype(int),
        "ref_lesions": counts["RefLesionsCount"],
        "lesions_found": counts["LesionTP"],
        "pred_lesions": counts["PredLesionsCount"],
        "pred_true": counts["PredLesionsCount"] - counts["LesionFP"],
    }, index=lesion.index)
    table = frame.groupby([lesion[c] for c in by], sort=False).sum().reset_index()
    table["found_fraction"] = table["lesions_found"] / table["ref_lesions"].where(table["ref_lesions"] > 0)
    table["true_fraction"] = table["pred_true"] / table["pred_lesions"].where(table["pred_lesions"] > 0)
    return table[by + POOLED_COLUMNS]


# --- the headline ----------------------------------------------------------------------------------------


def headline(per_image: pd.DataFrame, per_session: pd.DataFrame | None = None, dataset: str = "chunks_native",
             configuration: str = "2d", site: str = "TUM") -> pd.DataFrame:
    """One model on one test set: metric means and pooled detection beside the demo's acceptance bars and the paper.

    Parameters
    ----------
    per_image : pandas.DataFrame
        :func:`score_grid`'s metrics table, one row per image (chunk) and label.
    per_session : pandas.DataFrame, optional
        The same with ``stack_chunks=True`` (one row per session, the unit of the paper's Table 2).
    dataset, configuration, site : str
        The model and test set; default the 2d chunks_native model on the TUM test set.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HEADLINE_COLUMNS`, one row per quantity: the metrics of :data:`HEADLINE_METRICS`, then
        ``lesions found (pooled)`` and ``predicted lesions that are true (pooled)`` (fractions, counts in
        ``detail``). ``target`` from :data:`TARGETS`; ``meets_target`` is True when every value given (per image
        and per session) reaches it. ``paper``/``paper_sd``: the paper's Table 2 mean and SD of the single-site
        chunks model (lesion metrics only; the paper reports no cord Dice for it) and, for the median lesion
        Dice, the median of the 2D chunks native model quoted in section 3.2.

    Raises
    ------
    InputError
        If ``per_image`` holds no row of this model and test set.
    """
    def select(table):
        if table is None:
            return None
        wanted = (table["dataset"] == dataset) & (table["configuration"] == configuration) & (table["site"] == site)
        chosen = table[wanted]
        return chosen if len(chosen) else None

    image, session = select(per_image), select(per_session)
    if image is None:
        raise InputError(f"no evaluated test image of the {dataset} {configuration} model at site {site}")
    paper, numbers = paper_tables.table2(site), paper_tables.numbers()
    source = f"Table 2, ChunksNative SingleSite, {site} (n={int(paper['n_images'].iloc[0])})" if len(paper) else ""
    rows = []
    for label, metric, statistic, quantity in HEADLINE_METRICS:
        values = [None if t is None else float(getattr(pd.to_numeric(t.loc[t["label"] == label, metric]), statistic)())
                  for t in (image, session)]
        n_images = int((image["label"] == label).sum())
        n_sessions = 0 if session is None else int((session["label"] == label).sum())
        sessions = f", {n_sessions} sessions" if session is not None else ""
        row = {"quantity": quantity, "per_image": values[0], "per_session": values[1],
               "detail": f"{statistic} of {n_images} images{sessions}",
               "target": TARGETS.get((label, metric)) if statistic == "mean" else None,
               "paper": None, "paper_sd": None, "paper_source": ""}
        if label == "lesion" and statistic == "mean" and metric in paper.index:
            row.update(paper=float(paper.loc[metric, "mean"]), paper_sd=float(paper.loc[metric, "sd"]),
                       paper_source=source)
        if label == "lesion" and statistic == "median" and dataset == "chunks_native" and configuration == "2d":
            row.update(paper=float(numbers["median_dice_2d_chunks_native"]),
                       paper_source="section 3.2, 2D chunks native")
        rows.append(row)
    pooled = [None if t is None else pooled_detection(t, by=("dataset",)).iloc[0] for t in (image, session)]
    for quantity, numerator, denominator, fraction in (
        ("lesions found (pooled)", "lesions_found", "ref_lesions", "found_fraction"),
        ("predicted lesions that are true (pooled)", "pred_true", "pred_lesions", "true_fraction"),
    ):
        first = pooled[0]
        rows.append({"quantity": quantity, "per_image": float(first[fraction]),
                     "per_session": None if pooled[1] is None else float(pooled[1][fraction]),
                     "detail": f"{int(first[numerator])} of {int(first[denominator])} (per image)",
                     "target": None, "paper": None, "paper_sd": None, "paper_source": ""})
    table = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    table["meets_target"] = [
        None if pd.isna(target) else all(v >= target for v in (a, b) if v is not None and not math.isnan(v))
        for target, a, b in zip(table["target"], table["per_image"], table["per_session"])
    ]
    return table


# --- the paper's image counts and the training curves ------------------------------------------------------


def paper_image_counts() -> pd.DataFrame:
    """The paper's TUM images (section 2.4): training and test, chunks native (chunks) and stitched native."""
    numbers = paper_tables.numbers()
    return pd.DataFrame(
        {"training": [numbers["chunks_native_train_chunks"], numbers["stitched_train_scans"]],
         "test": [numbers["chunks_native_test_chunks"], numbers["stitched_test_scans"]]},
        index=["chunks native (chunks)", "stitched native (whole-spine images)"]).astype(int)


def last_epochs(training_curves: pd.DataFrame) -> pd.DataFrame:
    """Per model (dataset, configuration, fold): epochs run, minutes, the last epoch's losses and pseudo Dice, and
    ``lesion_from_epoch``, the first epoch (0-based, as nnU-Net logs them) whose lesion pseudo Dice is above 0
    (NaN when none is).

    ``training_curves`` is :func:`sclesion.nnunet.curves.grid_curves`' table (one row per epoch).
    """
    curves = training_curves.assign(lesion_epoch=training_curves["epoch"].where(
        training_curves["pseudo_dice_lesion"] > 0))
    return curves.groupby(["dataset", "configuration", "fold"], sort=False).agg(
        epochs=("epoch", "size"), minutes=("epoch_seconds", lambda s: s.sum() / 60),
        train_loss=("train_loss", "last"), val_loss=("val_loss", "last"),
        pseudo_dice_cord=("pseudo_dice_cord", "last"), pseudo_dice_lesion=("pseudo_dice_lesion", "last"),
        lesion_from_epoch=("lesion_epoch", "min"))
