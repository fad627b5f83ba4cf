"""Evaluating a folder of predictions against reference labels: pairing, metrics, detections, summary.

File conventions
----------------
Predictions (searched recursively under the prediction folder) are named after the image they predict, by
BIDS entities, in one of two ways:

- a **region label map** ``<image stem>.nii.gz``, e.g. ``sub-tum001_ses-20200101_acq-ax_chunk-1_T2w.nii.gz``,
  holding 0 background, 1 cord, 2 lesion (nnU-Net's region-based output named back after its image);
- or **separate binary masks** ``<image stem>_seg-<anything>.nii.gz`` (cord) and/or
  ``<image stem>_lesion-<anything>.nii.gz`` (lesions), e.g. ``..._T2w_lesion-pred.nii.gz``.

``.nii`` and ``.nii.gz`` are alike. Any other name (e.g. ``<image stem>_pred.nii.gz``) is ambiguous: a binary
lesion mask read as a label map would score every lesion as missed. Such files are refused, one line each,
unless ``pred_kind`` says what they hold (``labels``, ``lesion`` or ``cord``).

References follow the BIDS data contract: the reference folder is a BIDS dataset (labels are read from its
``derivatives/labels``) or a labels folder itself, holding ``<image stem>_seg-manual.nii.gz`` (cord) and
``<image stem>_lesion-manual.nii.gz`` (lesions).

Regions: lesion = the lesion mask; cord = cord mask OR lesion mask (lesions lie inside the cord), for the
reference and for separate predicted masks alike; a label map gives cord = label > 0, lesion = label > 1.

Pairing key: subject, session, acquisition and chunk entities. A prediction must match its reference in
shape and affine (within 0.001 mm); when the files of one image disagree, the one off the grid most of them
share is named. Every refused file or case (unreadable, empty, truncated, not binary, off-grid) is reported
as one line and the others go on.
References of subjects and sessions without any prediction are skipped silently (a prediction folder usually
covers only the test split); a missing chunk of a predicted session is reported.

With ``stack_chunks`` the chunks of each session are reoriented to RPI and stacked (paper Algorithm 1,
:mod:`sclesion.evaluation.stacking`) and the metrics are computed once per session. Lesion detection
(:mod:`sclesion.evaluation.detection`) is always computed per chunk, on the native grid.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.errors import InputError
from sclesion.core.names import IMAGE_SUFFIXES, is_nifti
from sclesion.core.nifti import MASK_VALUES, affines_match, check_binary, load_nifti, read_data, to_rpi, voxel_sizes
from sclesion.core.workers import check_jobs, process_pool
from sclesion.data.bids import parse_entities
from sclesion.evaluation.detection import detect_lesions
from sclesion.evaluation.metrics import (ALL_COLUMNS, METRICS, NSD_TAU_VOXELS, compute_metrics, metrics_reloaded,
                                         split_regions)
from sclesion.evaluation.stacking import check_chunks, stack_pair

#: Labels that can be evaluated.
LABELS: tuple[str, ...] = ("cord", "lesion")

#: Entity values of the reference label files (as in :data:`sclesion.data.bids.LABEL_SUFFIXES`).
REFERENCE_ENTITIES: dict[str, tuple[str, str]] = {"cord": ("seg", "manual"), "lesion": ("lesion", "manual")}

#: Columns identifying an evaluated image (or stacked session), first in the metrics table.
KEY_COLUMNS: tuple[str, ...] = ("participant_id", "session", "acq", "chunk")

#: All columns of the metrics table.
METRIC_TABLE_COLUMNS: tuple[str, ...] = (
    KEY_COLUMNS + ("label", "n_chunks") + ALL_COLUMNS + ("prediction", "reference")
)

#: What a prediction file without a seg- or lesion- entity may be declared to hold (``pred_kind``).
PRED_KINDS: tuple[str, ...] = ("auto", "labels", "lesion", "cord")


@dataclass(frozen=True)
class Key:
    """Which image a file belongs to: subject, session, acquisition and chunk (None where absent)."""

    participant_id: str
    session: str | None
    acq: str | None
    chunk: int | None

    @property
    def name(self) -> str:
        """Like the image stem without the suffix, e.g. ``sub-tum001_ses-20200101_acq-ax_chunk-1``."""
        parts = [self.participant_id, self.session, self.acq and f"acq-{self.acq}"]
        parts.append(None if self.chunk is None else f"chunk-{self.chunk}")
        return "_".join(p for p in parts if p)

    @property
    def session_key(self) -> "Key":
        """The same key without the chunk (the session a chunk belongs to)."""
        return Key(self.participant_id, self.session, self.acq, None)


@dataclass
class Files:
    """The files of one image on one side: a region label map and/or separate cord and lesion masks."""

    label_map: Path | None = None
    cord: Path | None = None
    lesion: Path | None = None

    def paths(self) -> list[Path]:
        """Every file held, label map first."""
        return [p for p in (self.label_map, self.cord, self.lesion) if p is not None]

    def has(self, label: str) -> bool:
        """True when the files define ``label`` ("cord" or "lesion")."""
        return self.label_map is not None or getattr(self, label) is not None


@dataclass(frozen=True)
class Chunk:
    """One predicted image and its reference."""

    key: Key
    pred: Files
    ref: Files


@dataclass(frozen=True)
class Case:
    """One unit of evaluation: a single image, or (stacked) the chunks of one session."""

    key: Key
    chunks: tuple[Chunk, ...]
    labels: tuple[str, ...]
    stacked: bool


@dataclass
class CaseResult:
    """What evaluating one case gave: metric rows, detected-lesion rows and messages."""

    rows: list[dict] = field(default_factory=list)
    lesions: list[pd.DataFrame] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per evaluated image (or stacked session) and label, columns :data:`METRIC_TABLE_COLUMNS`.
    lesions : pandas.DataFrame
        One row per reference lesion of every evaluated chunk: :data:`KEY_COLUMNS` then the columns of
        :func:`sclesion.evaluation.detection.detect_lesions` (empty when the lesion label is not evaluated).
    problems : list of str
        One line per refused file or case, ``"<file or image>: <problem>"``.
    disagreements : list of str
        With ``cross_check``: one line per metric where MetricsReloaded disagrees.
    skipped_references : int
        Reference images of subjects/sessions without any prediction (not evaluated, not a problem).
    """

    metrics: pd.DataFrame
    lesions: pd.DataFrame
    problems: list[str]
    disagreements: list[str]
    skipped_references: int


# --- finding and pairing files ---------------------------------------------------------------------------


def find_predictions(folder: str | Path, pred_kind: str = "auto") -> tuple[dict[Key, Files], list[str]]:
    """Index the prediction files under ``folder`` (recursively) by :class:`Key`.

    Parameters
    ----------
    folder : str or Path
        The prediction folder.
    pred_kind : {"auto", "labels", "lesion", "cord"}
        What files without a ``seg-`` or ``lesion-`` entity hold. ``auto``: a region label map when the name
        is the image's own (its last part an image suffix such as ``T2w``), refused otherwise.

    Returns
    -------
    predictions : dict of Key to Files
    problems : list of str
        Unparsable or ambiguous names, and keys with two files of one kind or with both a label map and masks
        (dropped).
    """
    if pred_kind not in PRED_KINDS:
        raise InputError(f"--pred-kind must be one of {', '.join(PRED_KINDS)}, got {pred_kind!r}")
    folder = _folder(folder, "prediction")
    found: dict[Key, Files] = defaultdict(Files)
    problems, bad = [], set()
    declared = {"labels": "label_map", "lesion": "lesion", "cord": "cord"}
    for path in _nifti_files(folder):
        try:
            entities = parse_entities(path.name)
        except InputError as err:
            problems.append(f"{path}: {err.problem}")
            continue
        if "seg" in entities and "lesion" in entities:
            problems.append(f"{path}: both a seg- and a lesion- entity; name cord masks _seg-*, lesion masks _lesion-*")
            continue
        if "seg" in entities or "lesion" in entities:
            kind = "cord" if "seg" in entities else "lesion"
        elif pred_kind != "auto":
            kind = declared[pred_kind]
        elif entities["suffix"] in IMAGE_SUFFIXES:
            kind = "label_map"
        else:
            problems.append(
                f"{path}: cannot tell from the name whether this is a region label map (1 cord, 2 lesion), a lesion "
                f"mask or a cord mask; name it <image stem>.nii.gz, <image stem>_lesion-<x>.nii.gz or "
                f"<image stem>_seg-<x>.nii.gz, or pass --pred-kind labels|lesion|cord")
            continue
        key = _key(entities)
        if key is None:
            problems.append(f"{path}: chunk entity must be an integer")
            continue
        files = found[key]
        if getattr(files, kind) is not None:
            problems.append(f"{path}: a second prediction for {key.name} (first: {getattr(files, kind)})")
            bad.add(key)
        setattr(files, kind, path)
    for key, files in found.items():
        if files.label_map is not None and (files.cord is not None or files.lesion is not None):
            problems.append(f"{files.label_map}: both a label map and separate masks predict {key.name}")
            bad.add(key)
    return {k: v for k, v in found.items() if k not in bad}, problems


def find_references(folder: str | Path) -> tuple[dict[Key, Files], list[str]]:
    """Index the reference labels (``_seg-manual``, ``_lesion-manual``) by :class:`Key`.

    ``folder`` is a BIDS dataset (its ``derivatives/labels`` is searched) or a labels folder.

    Returns
    -------
    references : dict of Key to Files
    problems : list of str
        Unparsable names and duplicated labels (the key is dropped).
    """
    folder = _folder(folder, "reference")
    labels = folder / "derivatives" / "labels"
    if labels.is_dir():
        folder = labels
    found: dict[Key, Files] = defaultdict(Files)
    problems, bad = [], set()
    for path in _nifti_files(folder):
        if not any(f"_{a}-{b}." in path.name for a, b in REFERENCE_ENTITIES.values()):
            continue
        try:
            entities = parse_entities(path.name)
        except InputError as err:
            problems.append(f"{path}: {err.problem}")
            continue
        kind = next(k for k, (a, b) in REFERENCE_ENTITIES.items() if entities.get(a) == b)
        key = _key(entities)
        if key is None:
            problems.append(f"{path}: chunk entity must be an integer")
            continue
        if getattr(found[key], kind) is not None:
            problems.append(f"{path}: a second {kind} label for {key.name} (first: {getattr(found[key], kind)})")
            bad.add(key)
        setattr(found[key], kind, path)
    return {k: v for k, v in found.items() if k not in bad}, problems


def pair_cases(
    predictions: dict[Key, Files],
    references: dict[Key, Files],
    labels: tuple[str, ...] = LABELS,
    stack_chunks: bool = False,
) -> tuple[list[Case], list[str], int]:
    """Pair predictions with references into cases (no file is read).

    Parameters
    ----------
    predictions, references : dict of Key to Files
        From :func:`find_predictions` and :func:`find_references`.
    labels : tuple of str
        Labels to evaluate, from :data:`LABELS`.
    stack_chunks : bool
        One case per session (chunks stacked) instead of one per image.

    Returns
    -------
    cases : list of Case
        Sorted by key.
    problems : list of str
        Predictions without reference, missing chunks, labels missing on one side.
    skipped_references : int
        Reference images of sessions without any prediction.
    """
    problems = []
    predicted_sessions = {k.session_key for k in predictions}
    referenced_sessions = {k.session_key for k in references}
    skipped = sum(1 for k in references if k.session_key not in predicted_sessions)
    for key in sorted(set(predictions) - set(references), key=_order):
        if not stack_chunks or key.session_key not in referenced_sessions:  # else a missing chunk, below
            problems.append(f"{predictions[key].paths()[0]}: no reference label found for {key.name}")
    if not stack_chunks:
        for key in sorted(set(references) - set(predictions), key=_order):
            if key.session_key in predicted_sessions:
                problems.append(f"{key.name}: no prediction (reference: {references[key].paths()[0]})")
    chunks = {k: Chunk(k, predictions[k], references[k]) for k in set(predictions) & set(references)}
    if stack_chunks:
        groups: dict[Key, list[Key]] = defaultdict(list)
        for key in set(predictions) | set(references):
            if key.session_key in predicted_sessions & referenced_sessions:
                groups[key.session_key].append(key)
        units = []
        for session, keys in sorted(groups.items(), key=lambda item: _order(item[0])):
            try:
                if any(k.chunk is None for k in keys):
                    raise InputError("cannot stack: some images of this session have no chunk entity", session.name)
                check_chunks([k.chunk for k in keys if k in predictions], [k.chunk for k in keys if k in references],
                             session.name)  # fmt: skip
            except InputError as err:
                problems.append(str(err))
                continue
            units.append((session, tuple(chunks[k] for k in sorted(keys, key=_order))))
    else:
        units = [(key, (chunk,)) for key, chunk in chunks.items()]
    cases = []
    for key, members in sorted(units, key=lambda unit: _order(unit[0])):
        usable = []
        for label in labels:
            lacking = [(c.key, side) for c in members for side, files in (("prediction", c.pred), ("reference", c.ref))
                       if not files.has(label)]  # fmt: skip
            if lacking:
                problems.extend(f"{k.name}: no {label} {side}; {label} not evaluated" for k, side in lacking)
            else:
                usable.append(label)
        if usable:
            cases.append(Case(key, members, tuple(usable), stack_chunks))
    return cases, problems, skipped


# --- evaluating ------------------------------------------------------------------------------------------


def evaluate_case(case: Case, nsd_tau_mm: float | None = None, cross_check: bool = False) -> CaseResult:
    """Load one case, compute its metrics (per label) and its lesion detections (per chunk).

    Parameters
    ----------
    case : Case
        From :func:`pair_cases`.
    nsd_tau_mm : float, optional
        NSD tolerance in mm, using the voxel size from the NIfTI header; by default 1 voxel (the paper's
        setting).
    cross_check : bool, default False
        Also compute the metrics with MetricsReloaded and report disagreements (slow; needs MetricsReloaded).

    Returns
    -------
    CaseResult
        On a bad file, no rows and one problem line.
    """
    result = CaseResult()
    try:
        loaded = [_load_chunk(chunk, case.labels) for chunk in case.chunks]
        if "lesion" in case.labels:
            for chunk, (masks, affine) in zip(case.chunks, loaded):
                table = detect_lesions(masks["lesion"][0], masks["lesion"][1], voxel_sizes(affine))
                result.lesions.append(table.assign(**_key_columns(chunk.key)))
        for label in case.labels:
            pred, ref, spacing = _arrays(case, loaded, label)
            if nsd_tau_mm is not None and spacing is None:
                raise InputError("NSD in mm needs one voxel size for all stacked chunks; they differ", case.key.name)
            tau, spacing = (NSD_TAU_VOXELS, None) if nsd_tau_mm is None else (nsd_tau_mm, spacing)
            values = compute_metrics(pred, ref, tau, spacing)
            if cross_check:
                theirs = metrics_reloaded(pred, ref, tau, spacing)
                result.disagreements.extend(_disagreements(case.key.name, label, values, theirs))
            result.rows.append(
                {
                    **_key_columns(case.key),
                    "label": label,
                    "n_chunks": len(case.chunks),
                    **values,
                    "prediction": ";".join(str(p) for c in case.chunks for p in _used(c.pred, label)),
                    "reference": ";".join(str(p) for c in case.chunks for p in _used(c.ref, label)),
                }
            )
    except InputError as err:
        return CaseResult(problems=[str(err)])
    return result


def evaluate(
    pred_dir: str | Path,
    ref_dir: str | Path,
    labels: tuple[str, ...] = LABELS,
    stack_chunks: bool = False,
    jobs: int = 1,
    nsd_tau_mm: float | None = None,
    cross_check: bool = False,
    progress: bool = True,
    pred_kind: str = "auto",
) -> Evaluation:
    """Evaluate every prediction under ``pred_dir`` against its reference under ``ref_dir``.

    Parameters
    ----------
    pred_dir, ref_dir : str or Path
        Prediction folder and reference BIDS dataset (or labels folder); see the module docstring.
    labels : tuple of str, default ("cord", "lesion")
        Labels to evaluate.
    stack_chunks : bool, default False
        Stack the chunks of each session before computing metrics (paper Algorithm 1).
    jobs : int, default 1
        Worker processes; 1 evaluates in this process.
    nsd_tau_mm : float, optional
        NSD tolerance in mm (default: 1 voxel, as in the paper).
    cross_check : bool, default False
        Also run MetricsReloaded on every case and report disagreements.
    progress : bool, default True
        Show a tqdm progress bar.
    pred_kind : {"auto", "labels", "lesion", "cord"}
        What prediction files without a ``seg-``/``lesion-`` entity hold (see :func:`find_predictions`).

    Returns
    -------
    Evaluation
    """
    unknown = [label for label in labels if label not in LABELS]
    if unknown or not labels:
        raise InputError(f"labels must be among {', '.join(LABELS)}, got {', '.join(labels) or 'none'}")
    check_jobs(jobs)
    if nsd_tau_mm is not None and not (np.isfinite(nsd_tau_mm) and nsd_tau_mm > 0):
        raise InputError(f"--nsd-tau-mm: NSD tolerance must be a finite number > 0 mm, got {nsd_tau_mm}")
    predictions, problems = find_predictions(pred_dir, pred_kind)
    references, reference_problems = find_references(ref_dir)
    if not predictions and not problems:
        raise InputError("no prediction files (*.nii or *.nii.gz) found", pred_dir)
    if not references:
        raise InputError("no reference labels (*_seg-manual / *_lesion-manual .nii or .nii.gz) found", ref_dir)
    cases, pairing_problems, skipped = pair_cases(predictions, references, tuple(labels), stack_chunks)
    problems += reference_problems + pairing_problems
    arguments = {"nsd_tau_mm": nsd_tau_mm, "cross_check": cross_check}
    results = _run(cases, arguments, jobs, progress)
    rows = [row for r in results for row in r.rows]
    lesion_tables = [t for r in results for t in r.lesions]
    metrics = pd.DataFrame(rows, columns=list(METRIC_TABLE_COLUMNS))
    metrics["chunk"] = metrics["chunk"].astype("Int64")
    lesions = pd.concat(lesion_tables, ignore_index=True) if lesion_tables else pd.DataFrame()
    if not lesions.empty:
        lesions = lesions[list(KEY_COLUMNS) + [c for c in lesions.columns if c not in KEY_COLUMNS]]
        lesions["chunk"] = lesions["chunk"].astype("Int64")
    return Evaluation(
        metrics=metrics,
        lesions=lesions,
        problems=problems + [p for r in results for p in r.problems],
        disagreements=[d for r in results for d in r.disagreements],
        skipped_references=skipped,
    )


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of every metric per label (like the paper's Table 2).

    NaN values (NSD when both masks are empty) are left out of the mean; ``n`` counts the values used.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``metric``, ``n``, ``mean``, ``sd`` (sample SD, ddof 1), metrics in :data:`METRICS`
        order.
    """
    rows = []
    for label, part in metrics.groupby("label", sort=False):
        for metric in METRICS:
            values = pd.to_numeric(part[metric], errors="coerce").dropna()
            rows.append({"label": label, "metric": metric, "n": len(values), "mean": values.mean(),
                         "sd": values.std(ddof=1)})  # fmt: skip
    return pd.DataFrame(rows, columns=["label", "metric", "n", "mean", "sd"])


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as a text table: one row per metric, one ``mean ± sd`` column per label."""
    if summary.empty:
        return "no metrics"
    cells = summary.assign(cell=[f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}" if n else "n/a"
                                 for m, s, n in zip(summary["mean"], summary["sd"], summary["n"])])  # fmt: skip
    table = cells.pivot(index="metric", columns="label", values="cell").reindex(list(METRICS))
    counts = summary.groupby("label", sort=False)["n"].max()
    table.columns = [f"{label} (n={counts[label]})" for label in table.columns]
    return table.rename_axis(None).to_string()


# --- helpers ---------------------------------------------------------------------------------------------


def _run(cases: list[Case], arguments: dict, jobs: int, progress: bool) -> list[CaseResult]:
    bar = tqdm(total=len(cases), desc="evaluate", unit="case", disable=not progress)
    try:
        if jobs == 1 or len(cases) < 2:
            results = []
            for case in cases:
                results.append(evaluate_case(case, **arguments))
                bar.update()
            return results
        with process_pool(jobs) as pool:
            futures = [pool.submit(evaluate_case, case, **arguments) for case in cases]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]
    finally:
        bar.close()


def _load_chunk(chunk: Chunk, labels: tuple[str, ...]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Read one image's prediction and reference; return ``{label: (pred, ref)}`` bool masks and the affine.

    Every file is opened first and the grids compared (:func:`_check_grids`), so a file off the grid is
    named as such; then the voxel data are read and checked.
    """
    kinds = ("cord", "lesion") if "cord" in labels else ("lesion",)  # the cord region includes the lesions
    ref_paths = {kind: getattr(chunk.ref, kind) for kind in kinds if getattr(chunk.ref, kind) is not None}
    if chunk.pred.label_map is not None:
        pred_paths = {"labels": chunk.pred.label_map}
    else:
        pred_paths = {kind: getattr(chunk.pred, kind) for kind in kinds if getattr(chunk.pred, kind) is not None}
    opened = {(side, kind): (path, load_nifti(path, in_memory=True))
              for side, paths in (("reference", ref_paths), ("prediction", pred_paths)) for kind, path in paths.items()}
    _check_grids([(path, img) for path, img in opened.values()])
    data = {key: _read_mask(path, img, "labels" if key[1] == "labels" else "mask")
            for key, (path, img) in opened.items()}
    ref_masks = {kind: data[("reference", kind)] for kind in ref_paths}
    if "labels" in pred_paths:
        cord, lesion = split_regions(data[("prediction", "labels")])
        pred_masks = {"cord": cord, "lesion": lesion}
    else:
        pred_masks = {kind: data[("prediction", kind)] for kind in pred_paths}
        if "cord" in pred_masks and "lesion" in pred_masks:
            pred_masks["cord"] = pred_masks["cord"] | pred_masks["lesion"]
    if "cord" in ref_masks and "lesion" in ref_masks:
        ref_masks["cord"] = ref_masks["cord"] | ref_masks["lesion"]
    affine = next(iter(opened.values()))[1].affine.copy()
    return {label: (pred_masks[label], ref_masks[label]) for label in labels}, affine


def _read_mask(path: Path, img, kind: str) -> np.ndarray:
    """The checked data of an opened mask (bool) or region label map (uint8 0, 1, 2)."""
    data = read_data(img, path, dtype=None)
    check_binary(data, path, MASK_VALUES[kind])
    if kind == "labels":
        return data.astype(np.uint8, copy=False)
    return data.view(bool) if data.dtype == np.uint8 else data != 0


def _check_grids(files: list[tuple[Path, object]]) -> None:
    """Raise :class:`InputError` naming the file off the grid that most of ``files`` share.

    ``files`` are ``(path, image)`` pairs, references first; on a tie the earlier file's grid wins, so a
    prediction that disagrees with a single reference is the one named.
    """
    def same(a, b) -> bool:
        return tuple(a.shape) == tuple(b.shape) and affines_match(a.affine, b.affine)

    support = [sum(same(img, other) for _, other in files) for _, img in files]
    best = max(range(len(files)), key=lambda k: (support[k], -k))
    anchor_path, anchor = files[best]
    for path, img in files:
        if tuple(img.shape) != tuple(anchor.shape):
            raise InputError(f"shape {tuple(img.shape)} differs from {tuple(anchor.shape)} of {anchor_path}", path)
        if not affines_match(img.affine, anchor.affine):
            difference = float(np.abs(img.affine - anchor.affine).max())
            raise InputError(f"affine differs by up to {difference:.4g} mm from that of {anchor_path}", path)


def _arrays(case: Case, loaded, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The prediction and reference of ``label`` (stacked when the case is) and the voxel size in mm.

    The voxel size is None when stacked chunks have different voxel sizes.
    """
    if not case.stacked:
        (masks, affine), = loaded
        pred, ref = masks[label]
        return pred, ref, voxel_sizes(affine)
    pred_chunks, ref_chunks, sizes = {}, {}, []
    for chunk, (masks, affine) in zip(case.chunks, loaded):
        pred, ref = masks[label]
        pred_chunks[chunk.key.chunk], rpi_affine = to_rpi(pred, affine)
        ref_chunks[chunk.key.chunk], _ = to_rpi(ref, affine)
        sizes.append(voxel_sizes(rpi_affine))
    spacing = sizes[0] if np.allclose(sizes, sizes[0], rtol=0, atol=1e-3) else None
    pred, ref = stack_pair(pred_chunks, ref_chunks, case.key.name)
    return pred, ref, spacing


def _disagreements(name: str, label: str, ours: dict, theirs: dict) -> list[str]:
    lines = []
    for metric in METRICS:
        a, b = float(ours[metric]), float(theirs[metric])
        if not (np.isclose(a, b, rtol=0, atol=1e-9) or (np.isnan(a) and np.isnan(b))):
            lines.append(f"{name} {label}: {metric} sclesion {a:.6g} vs MetricsReloaded {b:.6g}")
    return lines


def _used(files: Files, label: str) -> list[Path]:
    """The files a label's mask is read from (cord uses the lesion mask too)."""
    if files.label_map is not None:
        return [files.label_map]
    return [p for p in ((files.cord, files.lesion) if label == "cord" else (files.lesion,)) if p is not None]


def _key_columns(key: Key) -> dict:
    return {"participant_id": key.participant_id, "session": key.session, "acq": key.acq, "chunk": key.chunk}


def _key(entities: dict[str, str]) -> Key | None:
    chunk = entities.get("chunk")
    if chunk is not None and not chunk.isdigit():
        return None
    return Key(
        participant_id=f"sub-{entities['sub']}",
        session=f"ses-{entities['ses']}" if "ses" in entities else None,
        acq=entities.get("acq"),
        chunk=None if chunk is None else int(chunk),
    )


def _order(key: Key) -> tuple:
    return (key.participant_id, key.session or "", key.acq or "", -1 if key.chunk is None else key.chunk)


def _folder(folder: str | Path, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{what} folder not found", folder)
    return folder


def _nifti_files(folder: Path) -> list[Path]:
    """NIfTI files under ``folder``, sorted, skipping hidden names (such as unfinished atomic writes)."""
    return [path for path in sorted(folder.rglob("*"))
            if not path.name.startswith(".") and is_nifti(path.name) and path.is_file()]


def input_files(pred_dir: str | Path, ref_dir: str | Path) -> list[Path]:
    """Every file :func:`evaluate` may read: the NIfTI files under ``pred_dir`` and the reference labels.

    For provenance records (a rerun is skipped only when none of them changed).
    """
    references = _folder(ref_dir, "reference")
    labels = references / "derivatives" / "labels"
    references = labels if labels.is_dir() else references
    reference_files = [p for p in _nifti_files(references)
                       if any(f"_{a}-{b}." in p.name for a, b in REFERENCE_ENTITIES.values())]
    return _nifti_files(_folder(pred_dir, "prediction")) + reference_files
