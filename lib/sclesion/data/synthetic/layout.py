"""File names of the synthetic cohort (the layout of book/methods.md, "Data layout and labels")."""

from __future__ import annotations

from pathlib import Path


def image_stem(subject: str, session: str, chunk: int | None = None) -> str:
    """``sub-<id>_ses-<ses>_acq-ax[_chunk-<k>]_T2w``; ``subject`` and ``session`` are given without prefix."""
    chunk_part = f"_chunk-{chunk}" if chunk is not None else ""
    return f"sub-{subject}_ses-{session}_acq-ax{chunk_part}_T2w"


def anat_dir(root: Path, subject: str, session: str) -> Path:
    return Path(root) / f"sub-{subject}" / f"ses-{session}" / "anat"


def chunk_image(root: Path, subject: str, session: str, chunk: int) -> Path:
    return anat_dir(root, subject, session) / f"{image_stem(subject, session, chunk)}.nii.gz"


def chunk_label(root: Path, subject: str, session: str, chunk: int, kind: str) -> Path:
    """Label of a chunk; ``kind`` is "seg" (cord, ``_seg-manual``) or "lesion" (``_lesion-manual``)."""
    folder = Path(root) / "derivatives" / "labels" / f"sub-{subject}" / f"ses-{session}" / "anat"
    return folder / f"{image_stem(subject, session, chunk)}_{kind}-manual.nii.gz"


def truth_dir(root: Path, subject: str, session: str) -> Path:
    return Path(root) / "derivatives" / "groundtruth" / f"sub-{subject}" / f"ses-{session}" / "anat"


def truth_files(root: Path, subject: str, session: str) -> dict[str, Path]:
    """Ground-truth files of a session: keys image, cord, lesion, centerline, lesions, anatomy."""
    folder = truth_dir(root, subject, session)
    base = f"sub-{subject}_ses-{session}"
    return {
        "image": folder / f"{base}_T2w.nii.gz",
        "cord": folder / f"{base}_T2w_seg-manual.nii.gz",
        "lesion": folder / f"{base}_T2w_lesion-manual.nii.gz",
        "centerline": folder / f"{base}_centerline.tsv",
        "lesions": folder / f"{base}_lesions.tsv",
        "anatomy": folder / f"{base}_anatomy.json",
    }


def strip_prefix(label: str, prefix: str) -> str:
    """``"sub-tum001"`` -> ``"tum001"`` (accepts the bare label too)."""
    return label[len(prefix) + 1:] if label.startswith(f"{prefix}-") else label
