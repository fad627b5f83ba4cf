"""The patient-wise train/test split of the study, and the exclusion list.

Rules (paper 2.4; book/methods.md, "Data layout and labels"):

1. subjects = the sorted unique ``participant_id`` values of the dataset, minus the excluded subjects;
2. subjects of train-only sites (the NYU-like site) go to ``train``; subjects of test-only sites (BWH- and
   UCSF-like: unseen sites) go to ``test``;
3. the remaining subjects (the TUM-like site; any other site, or subjects without a site, join this pool)
   are split 80/20 at random with seed 42: ``numpy.random.default_rng(seed).permutation`` of the sorted
   pool; the first ``n_test`` subjects of the permutation are ``test``, the rest ``train``, where
   ``n_test = round(test_fraction * n)`` (half up), kept within ``[1, n - 1]`` when ``n >= 2``.
   317 subjects give 254 train / 63 test, as in the paper.

The split is at the subject level: every session and chunk of a subject falls on one side.
The split file is a TSV with columns ``participant_id``, ``site``, ``split`` (``train`` or ``test``),
sorted by ``participant_id``; excluded subjects are not in it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sclesion.core.atomic import refuse_inputs, write_text
from sclesion.core.conventions import TEST_FRACTION
from sclesion.core.errors import InputError
from sclesion.core.paths import manifest_dir

#: Sites whose subjects only train (the study added all NYU patients to the training set).
TRAIN_ONLY_SITES: tuple[str, ...] = ("NYU",)
#: Sites kept unseen during training (test only).
TEST_ONLY_SITES: tuple[str, ...] = ("BWH", "UCSF")
#: The authors' seed.
SEED: int = 42

SPLIT_COLUMNS: list[str] = ["participant_id", "site", "split"]
EXCLUSION_COLUMNS: list[str] = ["participant_id", "reason"]
#: How a missing site is written in TSV files (the BIDS convention).
NA = "n/a"


def site_roles(sites_dir: str | Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Train-only and test-only sites, from the site YAMLs of ``data_manifest/sites/``.

    Each ``<site>.yml`` names its site with ``site`` (the value used in participants.tsv; default: the file
    stem upper-cased) and may set ``split_role``: ``train`` (train only), ``test`` (test only) or ``split``
    (pooled 80/20). A file without ``split_role`` gets the study's role for its site name
    (:data:`TRAIN_ONLY_SITES`, :data:`TEST_ONLY_SITES`, otherwise ``split``); without any file the study's
    roles are returned.

    Returns
    -------
    train_only, test_only : tuple of str
    """
    folder = manifest_dir() / "sites" if sites_dir is None else Path(sites_dir)
    files = sorted(folder.glob("*.yml")) if folder.is_dir() else []
    if not files:
        return TRAIN_ONLY_SITES, TEST_ONLY_SITES
    train_only, test_only = [], []
    for path in files:
        spec = yaml.safe_load(path.read_text()) or {}
        name = str(spec.get("site", path.stem.upper()))
        study_role = "train" if name in TRAIN_ONLY_SITES else "test" if name in TEST_ONLY_SITES else "split"
        role = spec.get("split_role", study_role)
        if role == "train":
            train_only.append(name)
        elif role == "test":
            test_only.append(name)
        elif role != "split":
            raise InputError(f"split_role must be train, test or split, got {role!r}", path)
    return tuple(train_only), tuple(test_only)


def read_exclusions(path: str | Path) -> pd.DataFrame:
    """Read an exclusion list: a TSV with header ``participant_id<TAB>reason``, one excluded subject per row.

    Lines starting with ``#`` are comments. Every row needs a ``sub-`` id and a non-empty reason.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``reason`` (possibly no rows).

    Raises
    ------
    InputError
        If the file is missing, its header is not ``participant_id, reason``, or a row is malformed or repeated.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("exclusion list not found", path)
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    rows = list(csv.reader(lines, delimiter="\t"))
    if not rows or rows[0] != EXCLUSION_COLUMNS:
        found = "nothing" if not rows else "\t".join(rows[0])
        raise InputError(f"header must be 'participant_id<TAB>reason', found {found!r}", path)
    seen = set()
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not row[0].startswith("sub-") or not row[1].strip():
            raise InputError(f"row {number} must be 'sub-<id><TAB><reason>', found {chr(9).join(row)!r}", path)
        if row[0] in seen:
            raise InputError(f"{row[0]} is listed twice", path)
        seen.add(row[0])
    return pd.DataFrame(rows[1:], columns=EXCLUSION_COLUMNS)


def subjects_table(dataset: pd.DataFrame) -> pd.DataFrame:
    """One row per subject of a :func:`sclesion.data.bids.discover` table: ``participant_id``, ``site``."""
    subjects = dataset.groupby("participant_id", sort=True)["site"].first(skipna=True).reset_index()
    return subjects[["participant_id", "site"]]


def n_test_subjects(n: int, test_fraction: float = TEST_FRACTION) -> int:
    """Number of test subjects out of a pool of ``n``: ``round(test_fraction * n)`` half up, in ``[1, n-1]``."""
    n_test = math.floor(test_fraction * n + 0.5)
    return min(max(n_test, 1), n - 1) if n >= 2 else n_test


def make_split(
    subjects: pd.DataFrame,
    exclusions: Iterable[str] = (),
    seed: int = SEED,
    test_fraction: float = TEST_FRACTION,
    train_only_sites: Iterable[str] | None = None,
    test_only_sites: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Assign every subject to ``train`` or ``test`` (rules in the module docstring).

    Parameters
    ----------
    subjects : pandas.DataFrame
        Columns ``participant_id`` and ``site`` (one row per subject, e.g. from :func:`subjects_table`);
        a dataset table with one row per image works too.
    exclusions : iterable of str
        ``participant_id`` values to leave out (ids absent from ``subjects`` are ignored).
    seed : int, default 42
        Seed of ``numpy.random.default_rng`` for the pooled 80/20 split.
    test_fraction : float, default 0.2
    train_only_sites, test_only_sites : iterable of str, optional
        Defaults: :func:`site_roles` (NYU train only; BWH, UCSF test only).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``site`` (NA if unknown), ``split``, sorted by ``participant_id``.
    """
    if train_only_sites is None or test_only_sites is None:
        default_train, default_test = site_roles()
        train_only_sites = default_train if train_only_sites is None else train_only_sites
        test_only_sites = default_test if test_only_sites is None else test_only_sites
    if not 0.0 <= test_fraction <= 1.0:
        raise InputError(f"test fraction must be between 0 and 1, got {test_fraction:g}")
    train_only, test_only = set(train_only_sites), set(test_only_sites)
    if train_only & test_only:
        raise InputError(f"sites both train-only and test-only: {', '.join(sorted(train_only & test_only))}")
    table = subjects_table(subjects) if subjects["participant_id"].duplicated().any() else subjects
    table = table[["participant_id", "site"]].sort_values("participant_id").reset_index(drop=True)
    table = table[~table["participant_id"].isin(set(exclusions))].reset_index(drop=True)
    split = pd.Series("train", index=table.index, dtype=object)
    split[table["site"].isin(test_only)] = "test"
    pool = table.index[~table["site"].isin(train_only | test_only)]
    order = np.random.default_rng(seed).permutation(len(pool))
    split[pool[order[: n_test_subjects(len(pool), test_fraction)]]] = "test"
    table["split"] = split.astype(str)
    return table


def write_split(split: pd.DataFrame, path: str | Path) -> Path:
    """Write a split table as TSV (``participant_id``, ``site``, ``split``; missing site as ``n/a``)."""
    text = split[SPLIT_COLUMNS].to_csv(sep="\t", index=False, na_rep=NA, lineterminator="\n")
    return write_text(text, path)


def read_split(path: str | Path) -> pd.DataFrame:
    """Read a split TSV written by :func:`write_split`.

    Raises
    ------
    InputError
        If the file is missing, lacks a column, repeats a subject or has a split other than train/test.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("split file not found", path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[NA])
    if list(table.columns) != SPLIT_COLUMNS:
        raise InputError(f"columns must be {', '.join(SPLIT_COLUMNS)}; found {', '.join(table.columns)}", path)
    if table["participant_id"].duplicated().any():
        raise InputError(f"{table['participant_id'][table['participant_id'].duplicated()].iloc[0]} listed twice", path)
    bad = sorted(set(table["split"]) - {"train", "test"})
    if bad:
        raise InputError(f"split must be 'train' or 'test', found {', '.join(map(repr, bad))}", path)
    return table


def split_dataset(
    bids_root: str | Path, exclusions_path: str | Path | None = None, seed: int = SEED,
    test_fraction: float = TEST_FRACTION,
) -> pd.DataFrame:
    """Discover a BIDS dataset and split its subjects (see :func:`make_split`).

    Parameters
    ----------
    bids_root : str or Path
    exclusions_path : str or Path, optional
        An exclusion list (:func:`read_exclusions`).
    """
    from sclesion.data.bids import discover

    excluded = read_exclusions(exclusions_path)["participant_id"] if exclusions_path else ()
    return make_split(subjects_table(discover(bids_root)), excluded, seed, test_fraction)


def split_inputs(bids_root: str | Path, exclusions_path: str | Path | None = None) -> dict[str, Path]:
    """The files a split is made from: ``participants.tsv`` (when present) and the exclusion list."""
    inputs = {"participants": Path(bids_root) / "participants.tsv"}
    if exclusions_path:
        inputs["exclusions"] = Path(exclusions_path)
    return {role: path for role, path in inputs.items() if path.is_file()}


def attach_split(dataset: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """Add the ``split`` column to a dataset table (one row per image); excluded subjects are dropped.

    Raises
    ------
    InputError
        If the split assigns a site different from the dataset's for some subject.
    """
    merged = dataset.merge(split[["participant_id", "split", "site"]], on="participant_id", suffixes=("", "_split"))
    differs = merged["site"].fillna(NA) != merged["site_split"].fillna(NA)
    if differs.any():
        row = merged[differs].iloc[0]
        raise InputError(f"{row['participant_id']} has site {row['site']} but {row['site_split']} in the split")
    return merged.drop(columns="site_split")


def ensure_split(
    bids_root: str | Path, split_path: str | Path, exclusions_path: str | Path | None = None, seed: int = SEED,
    test_fraction: float = TEST_FRACTION,
) -> tuple[pd.DataFrame, str]:
    """Use the split file if it exists (checking it fits the dataset), else compute and write it.

    An existing file is kept even when it differs from the regenerated split (e.g. a split you received from
    the authors), provided it lists exactly the dataset's subjects minus the exclusions, with their sites.

    Returns
    -------
    split : pandas.DataFrame
        The split in use (columns ``participant_id``, ``site``, ``split``).
    status : str
        ``"written"``, ``"reproduced"`` (the file equals the regenerated split) or ``"kept"`` (it differs).

    Raises
    ------
    InputError
        If an existing file lists other subjects or sites than the dataset minus the exclusions.
    """
    split_path = Path(split_path)
    refuse_inputs([split_path], split_inputs(bids_root, exclusions_path).values())
    regenerated = split_dataset(bids_root, exclusions_path, seed, test_fraction)
    if not split_path.exists():
        write_split(regenerated, split_path)
        return regenerated, "written"
    existing = read_split(split_path)
    ours = regenerated[["participant_id", "site"]].fillna(NA)
    theirs = existing[["participant_id", "site"]].fillna(NA).sort_values("participant_id").reset_index(drop=True)
    if not ours.equals(theirs):
        extra = sorted(set(theirs["participant_id"]) - set(ours["participant_id"]))
        missing = sorted(set(ours["participant_id"]) - set(theirs["participant_id"]))
        detail = (f"lists {len(extra)} subject(s) not in the dataset (e.g. {extra[0]})" if extra else
                  f"lacks {len(missing)} subject(s) of the dataset (e.g. {missing[0]})" if missing else
                  "gives other sites than participants.tsv")
        raise InputError(f"split file does not fit {bids_root}: it {detail}; delete it to regenerate", split_path)
    same = existing.sort_values("participant_id").reset_index(drop=True)["split"].equals(regenerated["split"])
    return existing, "reproduced" if same else "kept"


# --- the study's order of sites and splits (tables and figures) -----------------------------------------

#: Display order of the study's sites; other sites follow alphabetically.
SITE_ORDER: tuple[str, ...] = ("TUM", "NYU", "BWH", "UCSF")
#: Display order of the splits.
SPLIT_ORDER: tuple[str, ...] = ("train", "test")


def site_order(sites) -> list[str]:
    """Sort site names: the study's sites first (:data:`SITE_ORDER`), then the others alphabetically."""
    present = [s for s in pd.unique(pd.Series(list(sites)).dropna())]
    return [s for s in SITE_ORDER if s in present] + sorted(s for s in present if s not in SITE_ORDER)


def in_study_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a table with ``site`` and ``split`` columns sorted by :func:`site_order`, then train before test."""
    sites = {s: i for i, s in enumerate(site_order(table["site"]))}
    splits = {s: i for i, s in enumerate(SPLIT_ORDER)}
    key = table["site"].map(sites) * 10 + table["split"].map(splits).fillna(9)
    return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)
