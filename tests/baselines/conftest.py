"""Small cord phantoms for the stand-ins: a darker cord inside a bright CSF ring, optional bright lesions."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sclesion.data.phantoms import Lesion, render_phantom, s_curve

#: Grid of the test phantoms: voxels (R-L, P-A, I-S) and their size (mm).
SHAPE, SPACING = (40, 40, 20), (1.0, 1.0, 3.0)


def phantom_arrays(seed: int = 0, lesion_radius_mm: float | None = None, noise: float = 0.03):
    """Image, cord mask (lesions included) and lesion mask (bool) of an S-curved phantom, and its affine.

    The cord (8 x 6 mm) wanders a few mm in-plane along S-I inside a 2.5 mm CSF ring; with
    ``lesion_radius_mm`` a spherical bright lesion sits in the cord's middle.
    """
    curve = s_curve(np.arange(-45.0, 45.0, 0.05), amplitude_ap=4.0, amplitude_lr=2.0, wavelength_mm=120.0)
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))]
    middle = float(np.interp(0.0, curve[:, 2], arc))
    lesions = () if lesion_radius_mm is None else (
        Lesion(middle, 0.0, 0.0, 2 * lesion_radius_mm, lesion_radius_mm, lesion_radius_mm),)
    phantom = render_phantom(SHAPE, SPACING, curve, radii_mm=(4.0, 3.0), csf_mm=2.5, lesions=lesions,
                             noise=noise, seed=seed)
    image = np.asarray(phantom.image.dataobj)
    return image, np.asarray(phantom.cord.dataobj) > 0, np.asarray(phantom.lesions.dataobj) > 0, phantom.image.affine


def write_case(folder: Path, subject: str, seed: int = 0, lesion_radius_mm: float | None = None,
               noise: float = 0.03) -> dict[str, Path]:
    """Write a phantom as a BIDS image with its reference cord and lesion masks; their paths by kind."""
    image, cord, lesion, affine = phantom_arrays(seed, lesion_radius_mm, noise)
    stem = f"sub-{subject}_ses-01_acq-ax_chunk-1_T2w"
    paths = {"image": folder / f"sub-{subject}" / "ses-01" / "anat" / f"{stem}.nii.gz"}
    labels = folder / "derivatives" / "labels" / f"sub-{subject}" / "ses-01" / "anat"
    paths["cord"] = labels / f"{stem}_seg-manual.nii.gz"
    paths["lesion"] = labels / f"{stem}_lesion-manual.nii.gz"
    for kind, data in (("image", image.astype(np.float32)), ("cord", cord.astype(np.uint8)),
                       ("lesion", lesion.astype(np.uint8))):
        paths[kind].parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, affine), paths[kind])
    return paths


@pytest.fixture
def case_writer(tmp_path: Path):
    """``write(subject, seed=0, lesion_radius_mm=None, noise=0.03)``: a phantom case under ``tmp_path/bids``."""
    root = tmp_path / "bids"

    def write(subject: str, seed: int = 0, lesion_radius_mm: float | None = None, noise: float = 0.03):
        return write_case(root, subject, seed, lesion_radius_mm, noise)

    return write


@pytest.fixture
def phantom():
    """:func:`phantom_arrays`: ``phantom(seed=0, lesion_radius_mm=None, noise=0.03)``."""
    return phantom_arrays
