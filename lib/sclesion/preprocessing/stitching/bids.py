"""Stitching every session of a BIDS dataset: chunks in, one whole-spine image and its masks out, as BIDS.

Input (book/methods.md, "Data layout and labels")::

    <bids_root>/sub-<id>/ses-<ses>/anat/sub-<id>_ses-<ses>_acq-ax_chunk-<k>_T2w.nii.gz
    <bids_root>/derivatives/labels/sub-<id>/ses-<ses>/anat/<chunk stem>_seg-manual.nii.gz (and _lesion-manual)

Output, the same layout without the chunk entity::

    <out_root>/sub-<id>/ses-<ses>/anat/sub-<id>_ses-<ses>_acq-ax_T2w.nii.gz
    <out_root>/derivatives/labels/sub-<id>/ses-<ses>/anat/sub-<id>_ses-<ses>_acq-ax_T2w_seg-manual.nii.gz (...)

plus ``participants.tsv`` and ``dataset_description.json``, so the output is itself a BIDS dataset that
:func:`sclesion.data.bids.discover` reads. Outputs keep the chunks' extension (``.nii`` or ``.nii.gz``). A
rerun skips every output whose provenance record matches its chunks (:mod:`sclesion.core.provenance`) and
stitches the others again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.errors import InputError
from sclesion.core.provenance import OutputSet
from sclesion.core.names import split_extension
from sclesion.data.bids import LABEL_SUFFIXES, discover
from sclesion.preprocessing.stitching.stitch import stitch_files

#: Columns of the table returned by :func:`stitch_dataset`.
COLUMNS: list[str] = [
    "participant_id", "session", "site", "n_chunks", "image", "cord", "lesion", "overlap_mm", "gap_mm", "status",
]


def stitched_name(chunk_path: str | Path) -> str:
    """File name of the stitched image of a chunk: the chunk entity dropped.

    >>> stitched_name("sub-tum001_ses-20200101_acq-ax_chunk-2_T2w.nii.gz")
    'sub-tum001_ses-20200101_acq-ax_T2w.nii.gz'
    """
    stem, extension = split_extension(Path(chunk_path).name)
    return re.sub(r"_chunk-[A-Za-z0-9]+", "", stem) + extension


def stitched_paths(chunk_image: str | Path, bids_root: str | Path, out_root: str | Path) -> dict[str, Path]:
    """Paths of a session's stitched ``image``, ``cord`` and ``lesion`` from one of its chunk images.

    The outputs keep the chunk image's extension (``.nii`` or ``.nii.gz``).
    """
    chunk_image = Path(chunk_image)
    relative = chunk_image.parent.relative_to(Path(bids_root))
    name = stitched_name(chunk_image)
    stem, extension = split_extension(name)
    labels = Path(out_root) / "derivatives" / "labels" / relative
    return {"image": Path(out_root) / relative / name,
            **{kind: labels / f"{stem}_{suffix}{extension}" for kind, suffix in LABEL_SUFFIXES.items()}}


def stitch_session(rows: pd.DataFrame, bids_root: str | Path, out_root: str | Path) -> dict:
    """Stitch one session's chunks (image, and cord and lesion masks where every chunk has them).

    Parameters
    ----------
    rows : pandas.DataFrame
        The session's rows of a :func:`sclesion.data.bids.discover` table (one per chunk).
    bids_root : str or Path
        The input dataset.
    out_root : str or Path
        The output dataset (see the module docstring).

    Returns
    -------
    dict
        One row of :func:`stitch_dataset`'s table; ``status`` is ``up to date`` when no output was written.
    """
    rows = rows.sort_values("chunk")
    images = [Path(p) for p in rows["image"]]
    paths = stitched_paths(images[0], bids_root, out_root)
    report = stitch_files(images, paths["image"], is_mask=False)
    outputs = {"image": paths["image"]}
    statuses = {report.status}
    for kind in LABEL_SUFFIXES:
        labels = list(rows[kind])
        if any(label is None or pd.isna(label) for label in labels):
            outputs[kind] = None
            continue
        statuses.add(stitch_files([Path(p) for p in labels], paths[kind], is_mask=True).status)
        outputs[kind] = paths[kind]
    first = rows.iloc[0]
    return {
        "participant_id": first["participant_id"],
        "session": first["session"],
        "site": first["site"],
        "n_chunks": len(rows),
        **outputs,
        "overlap_mm": [round(max(j.overlap_mm, 0.0), 3) for j in report.junctions],
        "gap_mm": max((j.gap_mm for j in report.junctions), default=0.0),
        "status": "up to date" if statuses == {"up to date"} else "built",
    }


def stitch_dataset(
    bids_root: str | Path,
    out_root: str | Path,
    participants: list[str] | None = None,
    min_chunks: int = 2,
    progress: bool = True,
) -> pd.DataFrame:
    """Stitch every session with at least ``min_chunks`` chunks; write the output as a BIDS dataset.

    Parameters
    ----------
    bids_root : str or Path
        Input BIDS dataset with ``chunk-<k>`` images.
    out_root : str or Path
        Output dataset folder (created).
    participants : list of str, optional
        Participant ids (``"sub-tum001"``) to stitch; by default all.
    min_chunks : int, default 2
        Sessions with fewer chunks are left out.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per stitched session, columns :data:`COLUMNS`: output paths (``cord``/``lesion`` None when a
        chunk lacks that label), the overlap (mm) of each junction and the largest gap (mm).

    Raises
    ------
    InputError
        If the dataset holds no session with ``min_chunks`` chunks (after the participant filter).
    """
    table = discover(bids_root)
    table = table[table["chunk"].notna()]
    if participants is not None:
        table = table[table["participant_id"].isin(list(participants))]
    groups = [rows for _, rows in table.groupby(["participant_id", "session"], dropna=False, sort=True)
              if len(rows) >= min_chunks]
    if not groups:
        raise InputError(f"no session with {min_chunks} or more chunks to stitch", bids_root)
    write_dataset_files(Path(bids_root), Path(out_root), "chunks stitched",
                        {"Name": "sclesion stitch", "Description": "Graf et al. 2024 ramp stitching"})
    records = [stitch_session(rows, bids_root, out_root)
               for rows in tqdm(groups, desc="stitch", unit="session", disable=not progress)]
    return pd.DataFrame(records, columns=COLUMNS)


def write_dataset_files(bids_root: Path, out_root: Path, what: str, generated_by: dict) -> None:
    """participants.tsv (copied) and dataset_description.json of a derived dataset, unless up to date.

    Parameters
    ----------
    bids_root, out_root : Path
        The source dataset and the derived one.
    what : str
        What was done, appended to the source's name (e.g. ``"chunks stitched"``).
    generated_by : dict
        The BIDS ``GeneratedBy`` entry (``Name``, ``Description``).
    """
    from sclesion.core.atomic import write_text

    participants = bids_root / "participants.tsv"
    if participants.is_file():
        copy = OutputSet("copy", [out_root / "participants.tsv"], [participants])
        if not copy.up_to_date():
            with copy.writing():
                write_text(participants.read_text(), out_root / "participants.tsv")
    source = bids_root / "dataset_description.json"
    description = OutputSet("describe", [out_root / "dataset_description.json"], [source] if source.is_file() else [],
                            {"what": what, "generated_by": generated_by})
    if not description.up_to_date():
        try:
            name = json.loads(source.read_text()).get("Name", bids_root.name) if source.is_file() else bids_root.name
        except ValueError:
            raise InputError("not valid JSON", source) from None
        text = json.dumps({
            "Name": f"{name} ({what})",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [generated_by],
        }, indent=2)
        with description.writing():
            write_text(text + "\n", out_root / "dataset_description.json")
