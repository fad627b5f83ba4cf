"""Convert a dataset variant to nnU-Net's raw format with region labels.

Paper 2.3; book/methods.md, "Data layout and labels".

What one dataset folder ``<work_dir>/nnunet/raw/Dataset9XX_<Title>/`` holds::

    dataset.json                     channel_names, labels (regions), regions_class_order, numTraining, ...
    imagesTr/<case>_0000.nii.gz      training images (float32), reoriented to RPI
    labelsTr/<case>.nii.gz           region label maps (uint8): 0 background, 1 cord, 2 lesion
    imagesTs_<site>/, labelsTs_<site>/   one test set per site, kept apart (TUM, BWH, UCSF ...)
    cases.tsv                        every case id -> BIDS entities, site, split, source files (and, for
                                     straightened variants, the inverse warping field and native image)
    sclesion_conversion.json         completion marker, written last: the hash of the inputs

Region labels: lesion = (lesion > 0.5); cord = ((cord + lesion) > 0.5), so lesions always lie inside the
cord; the map holds 1 where cord, then 2 where lesion. ``dataset.json`` declares the regions nnU-Net trains
on (``"sc": [1, 2]``, ``"lesion": 2``, ``regions_class_order [1, 2]``).

Case ids are the image's BIDS stem without its ``_T2w`` suffix, e.g. ``sub-tum001_ses-20200101_acq-ax_chunk-1``,
so they are deterministic and readable; ``cases.tsv`` maps them back to every entity.

Reruns: a folder whose marker matches the inputs is left untouched (no-op). A folder without the marker (an
interrupted conversion) or converted from other inputs is refused with an :class:`~sclesion.core.errors.InputError`
asking to remove it, so that a half-written dataset is never mixed with a new one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import clean_stale_temporaries, save_nifti, write_text
from sclesion.core.conventions import cord_region, lesion_region
from sclesion.core.names import split_extension
from sclesion.data.bids import discover
from sclesion.core.errors import InputError
from sclesion.core.workers import process_pool
from sclesion.core.nifti import affines_match, load_image, to_rpi
from sclesion.nnunet.datasets import DatasetSpec, NnunetFolders
from sclesion.preprocessing.variants import variant_root

#: Name of the completion marker inside a converted dataset folder.
MARKER = "sclesion_conversion.json"
#: Name of the case table inside a converted dataset folder.
CASES_TSV = "cases.tsv"
#: Columns of the case table.
CASE_COLUMNS: list[str] = [
    "case_id", "subset", "participant_id", "session", "chunk", "site", "split",
    "image", "cord", "lesion", "inverse_field", "native_reference",
]
#: Suffix of the inverse (straight -> native) warping field of a straightened image.
INVERSE_FIELD_SUFFIX = "from-straight_to-native_xfm"
#: Version of the conversion rules; part of the input hash, so a change of rules asks for a fresh folder.
CONVERSION_VERSION = 1


def dataset_json(num_training: int) -> dict:
    """The ``dataset.json`` of a region-based dataset for ``num_training`` cases.

    The regions are those of book/methods.md, "Data layout and labels".
    """
    return {
        "channel_names": {"0": "T2w"},
        "labels": {"background": 0, "sc": [1, 2], "lesion": 2},
        "regions_class_order": [1, 2],
        "numTraining": int(num_training),
        "file_ending": ".nii.gz",
        "image_orientation": "RPI",
    }


def region_label_map(cord: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """Combine a cord and a lesion mask into the region label map (uint8: 0, 1 cord, 2 lesion).

    Parameters
    ----------
    cord, lesion : numpy.ndarray
        Masks of one shape, any numeric dtype (binary, or soft values thresholded at 0.5).

    Returns
    -------
    numpy.ndarray
        uint8, same shape: 2 where ``lesion > 0.5``, else 1 where ``cord + lesion > 0.5``, else 0.
    """
    lesion_in = lesion_region(lesion)
    out = cord_region(cord, lesion).astype(np.uint8)
    out[lesion_in] = 2
    return out


def case_id(image: str | Path) -> str:
    """nnU-Net case id of an image: its BIDS stem without the ``_T2w`` suffix."""
    stem, _ = split_extension(Path(image).name)
    return stem.removesuffix("_T2w")


def inverse_field_path(image: Path, root: Path) -> Path:
    """Expected inverse (straight -> native) field of a straightened image in its variant tree."""
    stem, _ = split_extension(image.name)
    return root / "derivatives" / "warps" / image.parent.relative_to(root) / f"{stem}_{INVERSE_FIELD_SUFFIX}.nii.gz"


def native_reference(field: Path) -> Path:
    """The native image a straightened image came from, read from the field's JSON sidecar (``NativeImage``).

    Raises
    ------
    InputError
        If the sidecar is missing or unreadable, or names no existing file.
    """
    sidecar = field.with_name(split_extension(field.name)[0] + ".json")
    if not sidecar.is_file():
        raise InputError("missing sidecar naming the native image (key NativeImage)", sidecar)
    try:
        native = Path(json.loads(sidecar.read_text())["NativeImage"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError("not a JSON object with a NativeImage entry", sidecar) from None
    if not native.is_absolute():
        native = (sidecar.parent / native).resolve()
    if not native.is_file():
        raise InputError(f"native image {native} named in the sidecar does not exist", sidecar)
    return native


def plan_cases(spec: DatasetSpec, root: str | Path, split: pd.DataFrame) -> pd.DataFrame:
    """List the cases of one dataset: which images go to training and to which per-site test set.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset (its variant and training sites).
    root : str or Path
        The variant's BIDS-like tree (the BIDS dataset itself for chunks_native).
    split : pandas.DataFrame
        Patient-wise split with columns ``participant_id``, ``site``, ``split`` (``train``/``test``);
        subjects absent from it (excluded) are left out.

    Returns
    -------
    pandas.DataFrame
        One row per case, columns :data:`CASE_COLUMNS`, sorted by subset then case id. ``subset`` is
        ``imagesTr`` or ``imagesTs_<site>``.

    Raises
    ------
    InputError
        If the tree holds no image, a label is missing, a case id repeats, there is no training case, or a
        straightened test case lacks its inverse field or native image.
    """
    root = Path(root).resolve()  # image paths are resolved below; fields are found relative to the root
    missing = {"participant_id", "site", "split"} - set(split.columns)
    if missing:
        raise InputError(f"split table lacks column(s) {', '.join(sorted(missing))}")
    images = discover(root, require_labels=True).drop(columns="site")
    table = images.merge(split[["participant_id", "site", "split"]], on="participant_id", how="inner")
    for column in ("image", "cord", "lesion"):
        table[column] = [Path(p).resolve() for p in table[column]]
    train = (table["split"] == "train") & table["site"].isin(spec.train_sites)
    if spec.train_chunks is not None:
        train &= table["chunk"].isin(spec.train_chunks).to_numpy()
    test = table["split"] == "test"
    table = table[train | test].copy()
    if not train.any():
        raise InputError(
            f"no training image for {spec.name}: no 'train' subject of site(s) {', '.join(spec.train_sites)}", root
        )
    site_name = table["site"].fillna("unknown").astype(str)
    table["subset"] = np.where(table["split"] == "train", "imagesTr", "imagesTs_" + site_name)
    table["case_id"] = [case_id(p) for p in table["image"]]
    duplicated = table["case_id"][table["case_id"].duplicated()]
    if len(duplicated):
        raise InputError(f"two images give the case id {duplicated.iloc[0]}", root)
    table["inverse_field"] = None
    table["native_reference"] = None
    if spec.straightened:
        for index, row in table.iterrows():
            field = inverse_field_path(Path(row["image"]), root)
            if field.is_file():
                table.at[index, "inverse_field"] = field
                table.at[index, "native_reference"] = native_reference(field)
            elif row["split"] == "test":
                raise InputError("missing inverse warping field of a straightened test image", field)
    table["chunk"] = table["chunk"].astype("Int64")
    return table[CASE_COLUMNS].sort_values(["subset", "case_id"], kind="stable").reset_index(drop=True)


def inputs_hash(spec: DatasetSpec, cases: pd.DataFrame) -> str:
    """SHA-256 over the dataset spec, the case table and each source file's size and modification time.

    Cheap (no file is read) yet changes whenever a source is rewritten, a case appears or moves between
    subsets, or the conversion rules change (:data:`CONVERSION_VERSION`).
    """
    digest = hashlib.sha256()
    chunks = [list(spec.train_chunks)] if spec.train_chunks else []
    digest.update(json.dumps([CONVERSION_VERSION, spec.dataset_id, spec.variant, list(spec.train_sites)] + chunks).encode())
    for row in cases.itertuples(index=False):
        digest.update(f"{row.case_id}|{row.subset}".encode())
        for path in (row.image, row.cord, row.lesion, row.inverse_field):
            if path is not None and not pd.isna(path):
                stat = Path(path).stat()
                digest.update(f"|{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return img


def convert_case(image: str | Path, cord: str | Path, lesion: str | Path, image_out: Path, label_out: Path) -> None:
    """Write one case: the image (float32) and its region label map (uint8), both reoriented to RPI.

    Raises
    ------
    InputError
        If a file is unreadable or a mask's shape or affine differs from the image's.
    """
    data, affine = load_image(image)
    masks = []
    for path in (cord, lesion):
        mask, mask_affine = load_image(path)
        if mask.shape != data.shape:
            raise InputError(f"shape {mask.shape} differs from the image's {data.shape}", path)
        if not affines_match(mask_affine, affine):
            raise InputError("affine differs from the image's", path)
        masks.append(mask)
    labels = region_label_map(*masks)
    rpi_data, rpi_affine = to_rpi(data, affine)
    rpi_labels, _ = to_rpi(labels, affine)
    save_nifti(_nifti(np.ascontiguousarray(rpi_data, dtype=np.float32), rpi_affine), image_out)
    save_nifti(_nifti(np.ascontiguousarray(rpi_labels, dtype=np.uint8), rpi_affine), label_out)


def _case_outputs(folder: Path, row) -> tuple[Path, Path]:
    labels = "labelsTr" if row.subset == "imagesTr" else row.subset.replace("images", "labels", 1)
    return folder / row.subset / f"{row.case_id}_0000.nii.gz", folder / labels / f"{row.case_id}.nii.gz"


def _convert_row(args: tuple) -> None:
    convert_case(*args)


def read_cases(folder: str | Path) -> pd.DataFrame:
    """Read the case table of a converted dataset folder (paths as :class:`~pathlib.Path`, chunk as Int64)."""
    path = Path(folder) / CASES_TSV
    if not path.is_file():
        raise InputError("no case table; convert the dataset first (sclesion convert)", path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=["n/a"])
    table["chunk"] = table["chunk"].astype("Int64")
    for column in ("image", "cord", "lesion", "inverse_field", "native_reference"):
        table[column] = [None if pd.isna(v) else Path(v) for v in table[column]]
    return table


def check_existing(folder: Path, digest: str) -> bool:
    """True if ``folder`` is a complete conversion of the same inputs; False if it does not exist.

    Raises
    ------
    InputError
        If the folder exists without the completion marker, or was converted from other inputs.
    """
    if not folder.exists():
        return False
    marker = folder / MARKER
    if not marker.is_file():
        raise InputError(
            "exists but has no completion marker (an interrupted conversion?); remove the folder and rerun", folder
        )
    try:
        found = json.loads(marker.read_text()).get("inputs_sha256")
    except json.JSONDecodeError:
        found = None
    if found != digest:
        raise InputError(
            "was converted from other inputs (the images, split or rules changed); remove the folder to convert "
            "again (and its preprocessed data and results, which came from it)", folder
        )
    return True


def convert_dataset(
    spec: DatasetSpec, bids_root: str | Path, work_dir: str | Path, split: pd.DataFrame,
    n_jobs: int = 1, progress: bool = True,
) -> pd.DataFrame:
    """Convert one dataset (a variant's train and test images) to nnU-Net raw format.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset, e.g. ``DATASETS["chunks_native"]``.
    bids_root : str or Path
        The native BIDS dataset (the chunks_native variant).
    work_dir : str or Path
        Work folder: other variants are read from ``<work_dir>/variants/<variant>``, and the dataset is written
        to ``<work_dir>/nnunet/raw/<name>``.
    split : pandas.DataFrame
        Patient-wise split (``participant_id``, ``site``, ``split``), e.g. from
        :func:`sclesion.data.split.read_split`.
    n_jobs : int, default 1
        Worker processes for writing cases.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        The case table (also written to ``cases.tsv``).

    Raises
    ------
    InputError
        See :func:`plan_cases` and :func:`check_existing`.
    """
    root = variant_root(spec.variant, bids_root, work_dir)
    if not root.is_dir():
        raise InputError(f"variant {spec.variant} not found; build it first (sclesion variants)", root)
    cases = plan_cases(spec, root, split)
    folder = NnunetFolders(Path(work_dir)).raw / spec.name
    clean_stale_temporaries(folder, recursive=True)
    digest = inputs_hash(spec, cases)
    if check_existing(folder, digest):
        return read_cases(folder)
    jobs = [(row.image, row.cord, row.lesion, *_case_outputs(folder, row)) for row in cases.itertuples(index=False)]
    bar = dict(total=len(jobs), desc=f"converting {spec.name}", unit="case", disable=not progress)
    if n_jobs > 1:
        with process_pool(n_jobs) as pool:
            for _ in tqdm(pool.map(_convert_row, jobs), **bar):
                pass
    else:
        for job in tqdm(jobs, **bar):
            convert_case(*job)
    n_train = int((cases["subset"] == "imagesTr").sum())
    write_text(json.dumps(dataset_json(n_train), indent=2) + "\n", folder / "dataset.json")
    write_text(cases.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n"), folder / CASES_TSV)
    marker = {"inputs_sha256": digest, "dataset": spec.name, "variant": spec.variant, "source": str(root.resolve()),
              "n_training": n_train, "n_test": int(len(cases) - n_train)}
    write_text(json.dumps(marker, indent=2) + "\n", folder / MARKER)
    return read_cases(folder)

