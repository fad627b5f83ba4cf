"""The results store: every test set scored once, kept as two tidy tables that the results chapters read.

A **test set** is what one method predicted for the test images of one site: one fold of one nnU-Net model of
the grid, or a comparison method (an SCT tool or a stand-in). Each test set is scored in one or more ways
(:data:`SCORINGS`), and each (test set, scoring) is one **part** of the store, written under
``<work_dir>/results/parts/<method>/<site>/<scoring>/`` as ``metrics.tsv`` and ``lesions.tsv`` with a
provenance record (:mod:`sclesion.core.provenance`): the prediction files, the reference labels and the scoring.
A part is recomputed only when one of those changed; rebuilding the book re-reads the parts and evaluates
nothing.

The two tables (:func:`build` returns them and writes them as ``<work_dir>/results/metrics.tsv`` and
``lesions.tsv``):

Each build adds its parts to the two tables and keeps the rows of the other parts, so the chapters that score
comparison methods add to what the training chapter scored.

- **metrics**: one row per (test set, scoring, image or stacked session, label), columns :data:`SET_COLUMNS`,
  ``scoring``, ``image``, then :data:`sclesion.evaluation.evaluate.METRIC_TABLE_COLUMNS`;
- **lesions**: one row per reference lesion of every scored chunk with its detection (ANIMA's rule,
  :func:`sclesion.evaluation.detection.detect_lesions`: native voxel size, components below 3 mm^3 removed),
  columns :data:`SET_COLUMNS`, ``scoring``, ``image``, the image's key columns, then the detection columns.
  Detection is per chunk (or per stitched image), so a ``session`` scoring adds no lesion rows.

Scorings (book/methods.md, "Stacking" and "Metrics"):

``image``
    each predicted image on its own (a chunk, or a stitched whole-spine image for stitched datasets);
``session``
    the chunks of each session stacked (paper Algorithm 1) and scored once per session;
``unstitched``
    a stitched prediction resampled (nearest) onto the grid of every chunk of its session, then scored per
    chunk against the chunk references, so that stitched models compare with chunk models chunk by chunk.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.core.provenance import OutputSet
from sclesion.evaluation.evaluate import KEY_COLUMNS, LABELS, METRIC_TABLE_COLUMNS, Key, evaluate, input_files

#: Ways a test set is scored (module docstring).
SCORINGS: tuple[str, ...] = ("image", "session", "unstitched")

#: Columns naming a test set, first in both tables.
SET_COLUMNS: list[str] = ["method", "kind", "dataset", "variant", "configuration", "fold", "site"]

#: What a method is: a model of the study's grid, an SCT tool, or a stand-in for one.
KINDS: tuple[str, ...] = ("model", "sct", "stand-in")

#: Version of the part layout; parts written under another version are recomputed.
STORE_VERSION = 1


@dataclass(frozen=True)
class TestSet:
    """One method's predictions for the test images of one site.

    Attributes
    ----------
    method : str
        Display name, unique per test set's predictions, e.g. ``"chunks_native 2d"`` or
        ``"cord segmentation (stand-in)"``; stand-ins carry "stand-in" in their name.
    kind : str
        One of :data:`KINDS`.
    site : str
        Test site (``TUM``, ``BWH``, ``UCSF``).
    predictions : Path
        Folder of predicted masks or label maps, named after their images
        (:func:`sclesion.evaluation.evaluate.find_predictions`).
    references : Path
        BIDS dataset (or labels folder) holding the matching references.
    n_images : int
        Images predicted (each must pair with a reference).
    dataset, variant, configuration : str
        The grid's dataset key, its variant and nnU-Net configuration ("" for comparison methods).
    fold : int
        Fold of the model (-1 for comparison methods).
    """

    method: str
    kind: str
    site: str
    predictions: Path
    references: Path
    n_images: int
    dataset: str = ""
    variant: str = ""
    configuration: str = ""
    fold: int = -1

    def columns(self) -> dict:
        """The values of :data:`SET_COLUMNS`."""
        values = asdict(self)
        return {c: values[c] for c in SET_COLUMNS}


@dataclass
class Results:
    """The store's two tables and what building them did.

    Attributes
    ----------
    metrics, lesions : pandas.DataFrame
        The tables of the module docstring.
    status : pandas.DataFrame
        One row per part: :data:`SET_COLUMNS`, ``scoring``, ``status`` (``evaluated`` or ``kept``).
    """

    metrics: pd.DataFrame
    lesions: pd.DataFrame
    status: pd.DataFrame


def model_test_sets(index: pd.DataFrame) -> list[TestSet]:
    """The test sets of the grid's models, from the prediction index (:func:`sclesion.nnunet.runner.read_index`).

    Each row names a model fold's predicted masks (``masks``) for one site and the tree holding their
    references (``reference_root``: the BIDS dataset for chunk datasets, the stitched native variant for
    stitched ones; straightened predictions were warped back to native space). The method is named
    ``"<dataset> <configuration>"``, e.g. ``"chunks_native 2d"``.
    """
    return [TestSet(method=f"{row.dataset} {row.configuration}", kind="model", site=str(row.site),
                    predictions=Path(row.masks), references=Path(row.reference_root), n_images=int(row.n_images),
                    dataset=str(row.dataset), variant=str(row.variant), configuration=str(row.configuration),
                    fold=int(row.fold))
            for row in index.itertuples(index=False)]


def results_dir(work_dir: str | Path) -> Path:
    """``<work_dir>/results``: the store's folder."""
    return Path(work_dir) / "results"


def part_dir(work_dir: str | Path, test_set: TestSet, scoring: str) -> Path:
    """Folder of one part: ``results/parts/<method>/<site>/<scoring>`` (method as a file-safe slug)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_set.method).strip("-").lower()
    fold = f"fold-{test_set.fold}" if test_set.fold >= 0 else "all"
    return results_dir(work_dir) / "parts" / slug / fold / test_set.site / scoring


def score_part(test_set: TestSet, scoring: str, work_dir: str | Path, labels: tuple[str, ...] = LABELS,
               jobs: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Score one test set one way, or read the stored result when nothing changed.

    Parameters
    ----------
    test_set : TestSet
    scoring : {"image", "session", "unstitched"}
        ``session`` stacks the chunks of each session (chunk datasets only); ``unstitched`` expects
        ``test_set.predictions`` to hold the stitched predictions already resampled onto the chunks
        (:func:`sclesion.preprocessing.stitching.unstitch.unstitch_folder`) and scores them per chunk.
    work_dir : str or Path
        The work folder holding ``results/``.
    labels : tuple of str
        Labels scored.
    jobs : int
        Worker processes of the evaluation.

    Returns
    -------
    metrics, lesions : pandas.DataFrame
        The part's rows (module docstring).
    status : str
        ``"evaluated"`` or ``"kept"``.

    Raises
    ------
    InputError
        If the scoring is unknown, any prediction is refused or unpaired, or fewer images are scored than the
        test set holds: the study's own predictions must pair with their references one to one.
    """
    if scoring not in SCORINGS:
        raise InputError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    folder = part_dir(work_dir, test_set, scoring)
    outputs = OutputSet(
        "score", [folder / "metrics.tsv", folder / "lesions.tsv"],
        input_files(test_set.predictions, test_set.references),
        {"store": STORE_VERSION, "scoring": scoring, "labels": list(labels), **test_set.columns()},
    )
    if outputs.up_to_date():
        return _read_table(folder / "metrics.tsv"), _read_table(folder / "lesions.tsv"), "kept"
    stack = scoring == "session"
    result = evaluate(test_set.predictions, test_set.references, labels=tuple(labels), stack_chunks=stack,
                      jobs=jobs, progress=False)
    what = f"{test_set.method} fold {test_set.fold}, {test_set.site} test set ({scoring})"
    if result.problems:
        raise InputError(f"{len(result.problems)} problem(s) scoring {what}, e.g. {result.problems[0]}",
                         test_set.predictions)
    metrics = result.metrics
    scored = len(metrics.drop_duplicates(list(KEY_COLUMNS)))
    if scoring == "image" and scored != test_set.n_images:
        raise InputError(f"{scored} of the {test_set.n_images} test images of {what} were scored",
                         test_set.predictions)
    head = {**test_set.columns(), "scoring": scoring}
    metrics = metrics.assign(**head, image=_names(metrics))[_metric_columns()]
    lesions = result.lesions
    if stack or lesions.empty:
        lesions = pd.DataFrame(columns=_lesion_columns(lesions))
    else:
        lesions = lesions.assign(**head, image=_names(lesions))[_lesion_columns(lesions)]
    with outputs.writing():
        write_text(metrics.to_csv(sep="\t", index=False, lineterminator="\n"), folder / "metrics.tsv")
        write_text(lesions.to_csv(sep="\t", index=False, lineterminator="\n"), folder / "lesions.tsv")
    return _typed(metrics), _typed(lesions), "evaluated"


def build(parts: list[tuple[TestSet, str]], work_dir: str | Path, labels: tuple[str, ...] = LABELS, jobs: int = 1,
          progress: bool = True) -> Results:
    """Score every (test set, scoring) pair (or keep its stored result) and write the two tables.

    Parameters
    ----------
    parts : list of (TestSet, str)
        What to score and how.
    work_dir : str or Path
        The work folder; the tables go to ``<work_dir>/results/metrics.tsv`` and ``lesions.tsv``.
    labels : tuple of str
    jobs : int
    progress : bool
        A progress bar over the parts.

    Returns
    -------
    Results
    """
    metrics, lesions, status = [], [], []
    for test_set, scoring in tqdm(parts, desc="scoring test sets", unit="part", disable=not progress):
        part_metrics, part_lesions, state = score_part(test_set, scoring, work_dir, labels, jobs)
        metrics.append(part_metrics)
        if len(part_lesions):
            lesions.append(part_lesions)
        status.append({**test_set.columns(), "scoring": scoring, "status": state})
    results = Results(
        metrics=_typed(pd.concat(metrics, ignore_index=True)) if metrics else pd.DataFrame(columns=_metric_columns()),
        lesions=_typed(pd.concat(lesions, ignore_index=True)) if lesions else pd.DataFrame(),
        status=pd.DataFrame(status, columns=SET_COLUMNS + ["scoring", "status"]),
    )
    folder = results_dir(work_dir)
    for name, table in (("metrics.tsv", results.metrics), ("lesions.tsv", results.lesions)):
        merged = _merge(folder / name, table, results.status)
        write_text(merged.to_csv(sep="\t", index=False, lineterminator="\n"), folder / name)
    return results


def _merge(path: Path, table: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """``table`` plus the rows of the stored table that belong to parts this build did not touch."""
    old = _read_table(path) if path.is_file() else pd.DataFrame()
    if old.empty:
        return table
    key = SET_COLUMNS + ["scoring"]
    built = set(map(tuple, status[key].astype(str).to_numpy()))
    keep = [tuple(row) not in built for row in old[key].astype(str).to_numpy()]
    old = old[keep]
    return table if old.empty else _typed(pd.concat([old, table], ignore_index=True))


def read(work_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's metrics and lesions tables: every part any :func:`build` of this work folder scored.

    Raises
    ------
    InputError
        If the store has not been built yet (run the training chapter, notebook 04, first).
    """
    folder = results_dir(work_dir)
    for name in ("metrics.tsv", "lesions.tsv"):
        if not (folder / name).is_file():
            raise InputError("no results yet: build the store first (notebook 04 predicts and scores the grid)",
                             folder / name)
    return _read_table(folder / "metrics.tsv"), _read_table(folder / "lesions.tsv")


def _metric_columns() -> list[str]:
    return SET_COLUMNS + ["scoring", "image"] + list(METRIC_TABLE_COLUMNS)


def _lesion_columns(lesions: pd.DataFrame) -> list[str]:
    detection = [c for c in lesions.columns if c not in KEY_COLUMNS]
    return SET_COLUMNS + ["scoring", "image"] + list(KEY_COLUMNS) + detection


def _names(table: pd.DataFrame) -> list[str]:
    """Image (or session) name of every row, e.g. ``sub-tum001_ses-20200101_acq-ax_chunk-1``."""
    return [Key(p, None if pd.isna(s) else s, None if pd.isna(a) else a, None if pd.isna(c) else int(c)).name
            for p, s, a, c in zip(table["participant_id"], table["session"], table["acq"], table["chunk"])]


def _read_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype={"site": str, "session": str, "acq": str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    return _typed(table)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Column types the chapters rely on: integer chunks and folds, text names."""
    if "chunk" in table:
        table["chunk"] = pd.to_numeric(table["chunk"], errors="coerce").astype("Int64")
    if "fold" in table:
        table["fold"] = table["fold"].astype(int)
    for column in ("dataset", "variant", "configuration"):
        if column in table:
            table[column] = table[column].fillna("").astype(str)
    return table
