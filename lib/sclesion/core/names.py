"""File names: which names are NIfTI files, BIDS stems, and what a name says a file holds (image or mask).

Every command takes ``.nii`` and ``.nii.gz`` files alike. The file-stem helper is
:func:`sclesion.core.nifti.nifti_stem`.
"""

from __future__ import annotations

from pathlib import Path

from sclesion.core.errors import InputError

#: The NIfTI extensions, longest first (so that ``.nii.gz`` is matched before ``.nii``).
NIFTI_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii")

#: Last part of a file name (before the extension) that marks a mask: its key before any dash
#: (``_seg-manual``, ``_lesion-pred``, ``_mask``, ``_dseg`` ...).
MASK_NAME_KEYS: frozenset[str] = frozenset({"seg", "dseg", "mask", "msk", "lesion", "label", "labels"})

#: BIDS suffixes of anatomical images.
IMAGE_SUFFIXES: frozenset[str] = frozenset({"T1w", "T2w", "T2starw", "T2star", "FLAIR", "PD", "PDw", "MTw", "UNIT1"})


def split_extension(name: str) -> tuple[str, str]:
    """Split a BIDS file name into ``(stem, extension)``; ``extension`` is everything from the first dot.

    BIDS names carry no other dot, so this also splits ``.nii.gz`` and ``.json`` names.

    >>> split_extension("sub-a_T2w.nii.gz")
    ('sub-a_T2w', '.nii.gz')
    """
    stem, dot, rest = name.partition(".")
    return stem, dot + rest


def is_nifti(path: str | Path) -> bool:
    """True when the name ends in ``.nii`` or ``.nii.gz``."""
    return Path(path).name.endswith(NIFTI_EXTENSIONS)


def require_nifti(path: str | Path) -> Path:
    """``path`` as a Path, or :class:`InputError` when its name ends in neither ``.nii`` nor ``.nii.gz``."""
    if not is_nifti(path) or Path(path).name in NIFTI_EXTENSIONS:
        raise InputError("expected a .nii or .nii.gz file", path)
    return Path(path)


def name_kind(path: str | Path) -> bool | None:
    """What the name says the file holds: True for a mask, False for an image, None if it says neither.

    The last ``_``-separated part of the stem decides: a key of :data:`MASK_NAME_KEYS` (before any dash)
    means mask, a suffix of :data:`IMAGE_SUFFIXES` means image.
    """
    from sclesion.core.nifti import nifti_stem

    name = Path(path).name
    stem = nifti_stem(name) if is_nifti(name) else split_extension(name)[0]
    last = stem.split("_")[-1]
    if last.split("-")[0].lower() in MASK_NAME_KEYS:
        return True
    if last in IMAGE_SUFFIXES:
        return False
    return None
