"""File names: the stem and extension of a NIfTI file, and what a name says a file holds.

Every command takes ``.nii`` and ``.nii.gz`` files alike; this module is the one place that knows both.
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


def nifti_stem(path: str | Path) -> str:
    """The file name without its ``.nii`` or ``.nii.gz`` extension (other dots are kept).

    >>> nifti_stem("/data/my.scan_T2w.nii.gz")
    'my.scan_T2w'

    Raises
    ------
    InputError
        If the name ends in neither extension.
    """
    name = Path(path).name
    for extension in NIFTI_EXTENSIONS:
        if name.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    raise InputError("expected a .nii or .nii.gz file", path)


def nifti_extension(path: str | Path) -> str:
    """``.nii.gz`` or ``.nii``, as the name ends; :class:`InputError` otherwise."""
    return Path(path).name[len(nifti_stem(path)) :]


def name_kind(path: str | Path) -> bool | None:
    """What the name says the file holds: True for a mask, False for an image, None if it says neither.

    The last ``_``-separated part of the stem decides: a key of :data:`MASK_NAME_KEYS` (before any dash)
    means mask, a suffix of :data:`IMAGE_SUFFIXES` means image.
    """
    name = Path(path).name
    stem = nifti_stem(name) if is_nifti(name) else split_extension(name)[0]
    last = stem.split("_")[-1]
    if last.split("-")[0].lower() in MASK_NAME_KEYS:
        return True
    if last in IMAGE_SUFFIXES:
        return False
    return None
