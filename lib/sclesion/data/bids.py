"""Discovering a BIDS dataset of axial T2w images and their manual labels, and checking every pair.

Layout (book/methods.md, "Data layout and labels"; sessions and chunks are optional so that real datasets
without them work)::

    <root>/participants.tsv                               participant_id, site, ...
    <root>/sub-<id>[/ses-<ses>]/anat/<stem>.nii.gz        stem = sub-<id>[_ses-<ses>][_acq-ax][_chunk-<k>]_T2w
    <root>/derivatives/labels/sub-<id>[/ses-<ses>]/anat/<stem>_seg-manual.nii.gz      cord mask
    <root>/derivatives/labels/sub-<id>[/ses-<ses>]/anat/<stem>_lesion-manual.nii.gz   lesion mask

:func:`discover` returns one row per image in a tidy table; :func:`check` validates every image and label.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.errors import InputError
from sclesion.core.names import NIFTI_EXTENSIONS, is_nifti, split_extension
from sclesion.core.nifti import AFFINE_ATOL_MM, load_nifti, read_data, validate_mask_against

#: label kind -> the part appended to the image stem in derivatives/labels.
LABEL_SUFFIXES: dict[str, str] = {"cord": "seg-manual", "lesion": "lesion-manual"}

#: Columns of the table returned by :func:`discover`, in order.
COLUMNS: list[str] = ["participant_id", "session", "acq", "chunk", "site", "image", "cord", "lesion"]

_PART = re.compile(r"^([A-Za-z0-9]+)-([A-Za-z0-9]+)$")
_SUFFIX = re.compile(r"^[A-Za-z0-9]+$")


def parse_entities(name: str | Path) -> dict[str, str]:
    """Parse the BIDS entities of a file name.

    Every ``key-value`` part becomes an entry; the last part without a dash is the ``suffix``; the extension
    (from the first dot) is ``extension``. Parts after the suffix, such as the label part ``seg-manual`` of
    ``..._T2w_seg-manual.nii.gz``, are entities too (``seg: manual``). Values are strings (``chunk: "1"``).

    Parameters
    ----------
    name : str or Path
        A file name or path (only the last path component is parsed).

    Returns
    -------
    dict of str to str
        E.g. ``{"sub": "tum001", "ses": "20200101", "acq": "ax", "chunk": "1", "suffix": "T2w",
        "extension": ".nii.gz"}`` for ``sub-tum001_ses-20200101_acq-ax_chunk-1_T2w.nii.gz``.

    Raises
    ------
    InputError
        If the name does not start with ``sub-<label>``, has no suffix, repeats a key or has a malformed part.
    """
    filename = Path(name).name
    stem, extension = split_extension(filename)
    entities: dict[str, str] = {}
    suffix = None
    for part in stem.split("_"):
        match = _PART.match(part)
        if match:
            key, value = match.groups()
            if key in entities:
                raise InputError(f"not a BIDS file name: entity {key!r} appears twice", filename)
            entities[key] = value
        elif _SUFFIX.match(part):
            suffix = part
        else:
            raise InputError(f"not a BIDS file name: malformed part {part!r}", filename)
    if not stem.startswith("sub-") or "sub" not in entities:
        raise InputError("not a BIDS file name: it must start with sub-<label>", filename)
    if suffix is None:
        raise InputError("not a BIDS file name: no suffix (such as T2w) before the extension", filename)
    entities["suffix"] = suffix
    entities["extension"] = extension
    return entities


def bids_root_of(image: str | Path) -> Path:
    """The dataset root above an image at ``<root>/sub-<id>[/ses-<ses>]/anat/<file>``."""
    for parent in Path(image).parents:
        if parent.name.startswith("sub-"):
            return parent.parent
    raise InputError("not inside a sub-<label> folder of a BIDS dataset", image)


def label_path(image: str | Path, kind: str, root: str | Path | None = None) -> Path:
    """Expected path of an image's label (``kind`` "cord" or "lesion") under ``derivatives/labels``.

    The ``.nii.gz`` name is returned unless only an uncompressed ``.nii`` label exists.
    """
    image = Path(image)
    root = bids_root_of(image) if root is None else Path(root)
    stem, _ = split_extension(image.name)
    folder = root / "derivatives" / "labels" / image.parent.relative_to(root)
    candidates = [folder / f"{stem}_{LABEL_SUFFIXES[kind]}{ext}" for ext in NIFTI_EXTENSIONS]
    return next((c for c in candidates if c.is_file()), candidates[0])


def sidecar_path(image: str | Path) -> Path:
    """The JSON sidecar beside an image (same stem, ``.json``); it may not exist."""
    image = Path(image)
    return image.with_name(split_extension(image.name)[0] + ".json")


def read_participants(root: str | Path) -> pd.DataFrame | None:
    """Read ``<root>/participants.tsv`` (all columns as strings, ``n/a`` as missing), or None if absent.

    Raises
    ------
    InputError
        If the file has no ``participant_id`` column or repeats a participant.
    """
    path = Path(root) / "participants.tsv"
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=["n/a", ""])
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot parse as TSV ({err})", path) from None
    if "participant_id" not in table.columns:
        raise InputError(f"no participant_id column (columns: {', '.join(table.columns)})", path)
    duplicated = table["participant_id"][table["participant_id"].duplicated()]
    if len(duplicated):
        raise InputError(f"participant {duplicated.iloc[0]} appears more than once", path)
    return table


def _anat_folders(subject_dir: Path) -> list[Path]:
    folders = [subject_dir / "anat"] + sorted(subject_dir.glob("ses-*/anat"))
    return [f for f in folders if f.is_dir()]


def discover(
    root: str | Path, require_labels: bool = False, suffix: str = "T2w", acq: str | None = None
) -> pd.DataFrame:
    """List every image of a BIDS dataset with its labels and site, one row per image.

    Parameters
    ----------
    root : str or Path
        The dataset folder (holding ``sub-*`` folders and, optionally, ``participants.tsv``).
    require_labels : bool, default False
        Raise if an image lacks its cord or lesion label. Otherwise missing labels are None
        (list them with :func:`missing_labels`).
    suffix : str, default "T2w"
        BIDS suffix of the images to list.
    acq : str, optional
        Keep only images with this ``acq`` entity (e.g. "ax"); by default all.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``participant_id`` ("sub-tum001"), ``session`` ("ses-20200101" or NA),
        ``acq`` (str or NA), ``chunk`` (Int64: 1 cervical, 2 thoracic, 3 lumbar; NA when the image has no
        chunk entity, e.g. stitched), ``site`` (from participants.tsv, NA if unknown), ``image``, ``cord``,
        ``lesion`` (Path, or None when the label is missing). Sorted by participant, session, chunk.

    Raises
    ------
    InputError
        If ``root`` is not a folder, holds no image, a file name disagrees with its folders, or (with
        ``require_labels``) a label is missing.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("BIDS root is not a folder", root)
    participants = read_participants(root)
    sites = {}
    if participants is not None and "site" in participants.columns:
        sites = dict(zip(participants["participant_id"], participants["site"]))
    rows = []
    for subject_dir in sorted(p for p in root.glob("sub-*") if p.is_dir()):
        for anat in _anat_folders(subject_dir):
            session_dir = anat.parent.name if anat.parent != subject_dir else None
            for image in sorted(anat.iterdir()):
                stem, extension = split_extension(image.name)
                if extension not in NIFTI_EXTENSIONS or not stem.endswith(f"_{suffix}"):
                    continue
                entities = parse_entities(image.name)
                if acq is not None and entities.get("acq") != acq:
                    continue
                rows.append(_row(image, entities, subject_dir.name, session_dir, root, sites))
    if not rows:
        raise InputError(f"no *_{suffix}.nii.gz images found in sub-*/anat/ or sub-*/ses-*/anat/", root)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["chunk"] = table["chunk"].astype("Int64")
    table = table.sort_values(["participant_id", "session", "chunk"], na_position="first", kind="stable")
    table = table.reset_index(drop=True)
    if require_labels:
        missing = missing_labels(table)
        if missing:
            more = f" (and {len(missing) - 1} more missing labels)" if len(missing) > 1 else ""
            raise InputError(missing[0] + more)
    return table


def _row(image: Path, entities: dict, subject: str, session: str | None, root: Path, sites: dict) -> dict:
    if f"sub-{entities['sub']}" != subject:
        raise InputError(f"file name says sub-{entities['sub']} but it lies in folder {subject}", image)
    file_session = f"ses-{entities['ses']}" if "ses" in entities else None
    if file_session != session:
        raise InputError(f"file name says {file_session} but it lies in folder {session}", image)
    chunk = entities.get("chunk")
    if chunk is not None and not chunk.isdigit():
        raise InputError(f"chunk entity must be an integer, got {chunk!r}", image)
    labels = {kind: label_path(image, kind, root) for kind in LABEL_SUFFIXES}
    return {
        "participant_id": subject,
        "session": session,
        "acq": entities.get("acq"),
        "chunk": None if chunk is None else int(chunk),
        "site": sites.get(subject),
        "image": image,
        **{kind: path if path.is_file() else None for kind, path in labels.items()},
    }


def missing_labels(table: pd.DataFrame) -> list[str]:
    """One line per missing label of a :func:`discover` table: ``"<image>: no cord label (expected <path>)"``."""
    lines = []
    for row in table.itertuples(index=False):
        for kind in LABEL_SUFFIXES:
            if pd.isna(getattr(row, kind)):
                lines.append(f"{row.image}: no {kind} label (expected {label_path(row.image, kind)})")
    return lines


def orphan_labels(root: str | Path, table: pd.DataFrame) -> list[str]:
    """One line per label file under ``derivatives/labels`` that belongs to no image of the table.

    A label ``<stem>_seg-manual.nii[.gz]`` (or ``_lesion-manual``) belongs to the image ``<stem>.nii[.gz]`` in
    the same relative folder; a label of a chunk, session or subject without an image is reported.
    """
    root = Path(root)
    labels = root / "derivatives" / "labels"
    if not labels.is_dir():
        return []
    images = {(Path(p).parent.relative_to(root), split_extension(Path(p).name)[0]) for p in table["image"]}
    endings = tuple(f"_{suffix}" for suffix in LABEL_SUFFIXES.values())
    lines = []
    for path in sorted(labels.rglob("*")):
        if path.name.startswith(".") or not is_nifti(path.name) or not path.is_file():
            continue
        stem = split_extension(path.name)[0]
        if not stem.endswith(endings):
            continue
        image_stem = stem[: stem.rindex("_")]
        folder = path.parent.relative_to(labels)
        if (folder, image_stem) not in images:
            lines.append(f"{path}: label without an image (expected {root / folder / image_stem}.nii.gz or .nii)")
    return lines


def check(
    root: str | Path, require_labels: bool = True, atol_mm: float = AFFINE_ATOL_MM, progress: bool = True
) -> list[str]:
    """Validate every image and label of a dataset; return one line per problem (empty list = all good).

    Goes on over all files: every image is read (readable, 3D, finite values) and every label is checked
    against its image (shape, affine within ``atol_mm`` mm, binary {0, 1}); see
    :func:`sclesion.core.nifti.validate_pair`. Subjects missing from an existing participants.tsv are reported
    too, and so is every label under ``derivatives/labels`` without its image (:func:`orphan_labels`).

    Parameters
    ----------
    root : str or Path
        The BIDS dataset.
    require_labels : bool, default True
        Report images without a cord or lesion label.
    atol_mm : float, default 0.001
        Affine tolerance in mm.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    list of str
        Problems, each ``"<file>: <problem>"``.

    Raises
    ------
    InputError
        Only for problems that stop discovery itself (no images, unparsable names); see :func:`discover`.
    """
    table = discover(root)
    problems = []
    participants = read_participants(root)
    if participants is not None:
        listed = set(participants["participant_id"])
        for subject in table["participant_id"].unique():
            if subject not in listed:
                problems.append(f"{Path(root) / 'participants.tsv'}: no row for {subject}")
    if require_labels:
        problems.extend(missing_labels(table))
    problems.extend(orphan_labels(root, table))
    for row in tqdm(table.itertuples(index=False), total=len(table), desc="check", unit="image", disable=not progress):
        try:
            image = load_nifti(row.image)
            read_data(image, row.image)
        except InputError as err:
            problems.append(str(err))
            continue
        for kind in LABEL_SUFFIXES:
            label = getattr(row, kind)
            if pd.isna(label):
                continue
            try:
                validate_mask_against(image, label, atol_mm)
            except InputError as err:
                problems.append(str(err))
    return problems
