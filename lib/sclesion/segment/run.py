"""``sclesion segment``: cord and lesion masks, lesion morphometrics and a QC page for users' own scans.

The model is any nnU-Net v2 region model folder (``dataset.json``, ``plans.json``, ``fold_<k>/checkpoint_final.pth``):
one this project trained, or the authors' released one. Inference is :mod:`sclesion.nnunet.predict`'s, the one
``sclesion predict`` uses (reoriented to the model's ``image_orientation``, tile step 0.5, Gaussian weighting,
no mirroring, all folds ensembled, back on the input's exact grid).

Outputs, for an input ``<stem>.nii.gz`` (all in ``OUT``, on the input's grid)::

    <stem>_sc_seg.nii.gz          cord, including its lesions (uint8, 0/1)
    <stem>_lesion_seg.nii.gz      lesions (uint8, 0/1)
    <stem>_lesions.tsv            one row per lesion (:mod:`sclesion.evaluation.morphometrics`)
    <stem>_sc_seg.json, <stem>_lesion_seg.json
                                  sidecars: GeneratedBy (name, version, model folder, SHA-256 of the weights,
                                  folds, device), Sources, Checksums (image, weights), Settings
                                  (post-processing), Summary (lesion count and volumes)
    segment_summary.tsv           one row per image of the run: status, counts, total lesion volume
    qc.html                       the run's QC page (:mod:`sclesion.segment.qc`)

Every file is written atomically (temporary name, then rename), and the outputs of an image are one set with
provenance records (:mod:`sclesion.core.provenance`): a rerun keeps them only when they are whole and were made
from the same image, weights, folds and settings. A bad image is reported in one line (``status`` ``failed: ...``)
and the others go on.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import save_nifti, write_text
from sclesion.core.errors import InputError
from sclesion.core.names import is_nifti, split_extension
from sclesion.core.nifti import voxel_sizes
from sclesion.core.provenance import OutputSet
from sclesion.core.workers import check_jobs, process_pool
from sclesion.data.bids import discover
from sclesion.evaluation.morphometrics import chunk_from_name, image_summary, lesion_table, write_table
from sclesion.nnunet.predict import (
    CHECKPOINT, available_folds, load_model, predict_image, sidecar, weights_checksum, write_sidecar,
)
from sclesion.segment.postprocess import PostProcessing, postprocess

#: Columns of the run summary (``segment_summary.tsv``).
SUMMARY_COLUMNS: list[str] = [
    "image", "status", "n_lesions", "total_lesion_volume_mm3", "cord_volume_mm3", "chunk", "region", "sc_seg",
    "lesion_seg", "lesions_tsv", "seconds",
]


def find_images(source: str | Path) -> list[Path]:
    """The images to segment: one file, the ``*.nii[.gz]`` files of a folder, or every ``*_T2w`` image of a
    BIDS dataset (a folder with ``sub-*`` subfolders; derivatives are not inputs).

    Raises
    ------
    InputError
        If the source does not exist, is not NIfTI, or holds no image; or two images share a stem.
    """
    source = Path(source)
    if source.is_file():
        if not is_nifti(source):
            raise InputError("not a NIfTI file (.nii or .nii.gz)", source)
        return [source]
    if not source.is_dir():
        raise InputError("input not found", source)
    if any(p.is_dir() for p in source.glob("sub-*")):
        images = [Path(p) for p in discover(source)["image"]]
    else:
        images = sorted(p for p in source.iterdir()
                        if p.is_file() and not p.name.startswith(".") and is_nifti(p))
    if not images:
        raise InputError("no .nii.gz or .nii image in this folder", source)
    stems = [split_extension(p.name)[0] for p in images]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise InputError(f"two images share the name {repeated[0]!r}; their outputs would collide", source)
    return images


def output_paths(image: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """The output files of one image (module docstring): ``sc_seg``, ``lesion_seg``, ``lesions_tsv``,
    ``sc_sidecar``, ``lesion_sidecar``."""
    stem, out = split_extension(Path(image).name)[0], Path(out_dir)
    return {"sc_seg": out / f"{stem}_sc_seg.nii.gz", "lesion_seg": out / f"{stem}_lesion_seg.nii.gz",
            "lesions_tsv": out / f"{stem}_lesions.tsv", "sc_sidecar": out / f"{stem}_sc_seg.json",
            "lesion_sidecar": out / f"{stem}_lesion_seg.json"}


@dataclass(frozen=True)
class _Task:
    image: str
    out_dir: str
    record: dict
    outputs: OutputSet


# --- the work of one image (in this process or a worker) ---------------------------------------------------

_MODEL = None  # the model of this process's worker (loaded once per worker)


def _load(model_dir: str, folds: list[int] | None, device: str, threads: int | None) -> None:
    global _MODEL
    import torch

    if threads:
        torch.set_num_threads(threads)
    _MODEL = load_model(model_dir, folds, device)


def segment_one(model, image: str | Path, out_dir: str | Path, record: dict, options: PostProcessing,
                outputs: OutputSet) -> dict:
    """Segment one image with a loaded model, post-process, measure its lesions and write every output (the
    set ``outputs``, recorded once all are written).

    Returns
    -------
    dict
        The image's summary row (:data:`SUMMARY_COLUMNS` but ``seconds``), ``status`` ``"segmented"``.
    """
    paths = output_paths(image, out_dir)
    label_map = predict_image(model, image)
    labels = np.asarray(label_map.dataobj)
    zooms = voxel_sizes(label_map.affine)
    cord, lesion = postprocess(labels, float(np.prod(zooms)), options)
    chunk = chunk_from_name(image)
    table = lesion_table(lesion, cord, label_map.affine, options.connectivity, chunk)
    summary = image_summary(table, cord, label_map.affine, chunk)
    record = {**record, "Summary": {k: (None if pd.isna(v) else v) for k, v in summary.items()}}
    with outputs.writing():
        save_nifti(nib.Nifti1Image(cord, label_map.affine), paths["sc_seg"])
        save_nifti(nib.Nifti1Image(lesion, label_map.affine), paths["lesion_seg"])
        write_table(table, paths["lesions_tsv"])
        write_sidecar(record, paths["sc_sidecar"])
        write_sidecar(record, paths["lesion_sidecar"])
    return _row(image, "segmented", summary, paths)


def _row(image, status: str, summary: dict | None, paths: dict) -> dict:
    summary = summary or {}
    return {"image": str(image), "status": status, **{k: summary.get(k) for k in SUMMARY_COLUMNS[2:7]},
            "sc_seg": paths["sc_seg"], "lesion_seg": paths["lesion_seg"], "lesions_tsv": paths["lesions_tsv"]}


def _failure(err: BaseException) -> str:
    if isinstance(err, InputError):
        return f"failed: {err.problem}"
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"failed: {type(err).__name__}" + (f": {text}" if text else "")


def _run_task(task: _Task, options: PostProcessing, model=None) -> dict:
    """One image, never raising: a failure becomes the row's status (one line)."""
    start = time.perf_counter()
    try:
        row = segment_one(model or _MODEL, task.image, task.out_dir, task.record, options, task.outputs)
    except Exception as err:  # one bad image must not stop the batch; its problem is reported in one line
        row = _row(task.image, _failure(err), None, output_paths(task.image, task.out_dir))
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


# --- the batch --------------------------------------------------------------------------------------------


def segment(source: str | Path | list, model_dir: str | Path, out_dir: str | Path, folds: list[int] | None = None,
            device: str = "cpu", jobs: int = 1, options: PostProcessing = PostProcessing(), qc: bool = True,
            progress: bool = True) -> pd.DataFrame:
    """Segment an image, a folder or a BIDS dataset; keep finished outputs; write the summary and QC page.

    Parameters
    ----------
    source : str, Path or list of paths
        An image, a folder of images, a BIDS root (:func:`find_images`), or a list of image files.
    model_dir : str or Path
        An nnU-Net v2 results folder.
    out_dir : str or Path
        Output folder (created).
    folds : list of int, optional
        Folds to ensemble; default every fold with ``checkpoint_final.pth``.
    device : str, default "cpu"
        ``"cpu"`` or ``"cuda"``.
    jobs : int, default 1
        Images segmented at once, each worker with its own copy of the model and ``cpu_count // jobs``
        torch threads.
    options : PostProcessing, default all off
    qc : bool, default True
        Write ``qc.html``.
    progress : bool, default True

    Returns
    -------
    pandas.DataFrame
        One row per image, :data:`SUMMARY_COLUMNS`; ``status`` is ``segmented``, ``kept`` (finished with
        the same image, weights and settings) or ``failed: <reason>``.

    Raises
    ------
    InputError
        If the source holds no image, the model folder is not usable, or ``jobs`` < 1 (problems of single
        images are reported in their rows instead).
    """
    check_jobs(jobs)
    images = [Path(p) for p in source] if isinstance(source, (list, tuple)) else find_images(source)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    used_folds = available_folds(model_dir) if folds is None else sorted(int(f) for f in folds)
    if not used_folds:
        load_model(model_dir, folds, device)  # raises the model folder's problem in one line
    weights = weights_checksum(model_dir, used_folds)
    settings = {"PostProcessing": options.as_dict()}
    model_files = {f"fold {k}": model_dir / f"fold_{k}" / CHECKPOINT for k in used_folds}
    model_files.update(plans=model_dir / "plans.json", dataset=model_dir / "dataset.json")
    rows, tasks = {}, []
    for image in images:
        paths = output_paths(image, out_dir)
        try:
            record = sidecar(model_dir, used_folds, device, {"image": image}, weights, **settings)
            outputs = OutputSet("segment", list(paths.values()), {"image": image, **model_files},
                                {"folds": used_folds, **settings})
            current = outputs.up_to_date()
        except InputError as err:
            rows[str(image)] = {**_row(image, f"failed: {err.problem}", None, paths), "seconds": 0.0}
            continue
        if current:
            summary = json.loads(paths["lesion_sidecar"].read_text()).get("Summary")
            rows[str(image)] = {**_row(image, "kept", summary, paths), "seconds": 0.0}
        else:
            tasks.append(_Task(str(image), str(out_dir), record, outputs))
    bar = tqdm(total=len(tasks), desc=f"segmenting ({model_dir.name})", unit="image", disable=not progress)
    if tasks and jobs == 1:
        model = load_model(model_dir, used_folds, device)
        for task in tasks:
            rows[task.image] = _run_task(task, options, model)
            _report(rows[task.image], bar)
    elif tasks:
        load_model(model_dir, used_folds, "cpu")  # a broken model folder: one line here, not a broken pool
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with process_pool(min(jobs, len(tasks)), _load, (str(model_dir), used_folds, device, threads),
                          get_context("spawn")) as pool:
            for row in pool.map(_run_task, tasks, [options] * len(tasks)):
                rows[row["image"]] = row
                _report(row, bar)
    bar.close()
    table = pd.DataFrame([rows[str(image)] for image in images], columns=SUMMARY_COLUMNS)
    table["chunk"] = table["chunk"].astype("Int64")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(table.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n"), out_dir / "segment_summary.tsv")
    if qc:
        from sclesion.segment.qc import write_report

        write_report(table, out_dir / "qc.html", model_dir)
    return table


def _report(row: dict, bar) -> None:
    if row["status"].startswith("failed"):
        tqdm.write(f"{row['image']}: {row['status'].removeprefix('failed: ')}")
    bar.update()
