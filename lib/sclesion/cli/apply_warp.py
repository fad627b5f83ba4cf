"""``sclesion apply-warp``: resample an image or mask through a warping field.

Example (a straight-space prediction back to native space)::

    sclesion apply-warp -i pred_straight.nii.gz -w IMAGE_from-straight_to-native_xfm.nii.gz \\
        -r IMAGE.nii.gz -o pred_native.nii.gz --interp spline --threshold 0.5

The field must be defined on the reference grid (ITK/ANTs/SCT displacement-field convention, see
:mod:`sclesion.preprocessing.straightening.warp`; fields written by ``sclesion straighten`` or by SCT work). ``--labels`` warps a region
label map (1 cord, 2 lesion) as the authors did: each region with spline interpolation, > 0.5, lesion over
cord. An existing output is left alone (the run is skipped).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion apply-warp``."""
    parser.add_argument("-i", "--input", required=True, type=Path, metavar="IN", help="image or mask to warp")
    parser.add_argument("-w", "--warp", required=True, type=Path, metavar="WARP",
                        help="warping field defined on the reference grid")
    parser.add_argument("-r", "--reference", required=True, type=Path, metavar="REFERENCE",
                        help="image whose grid the output takes")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--interp", choices=("nearest", "linear", "spline"), default="linear",
                      help="interpolation (default: linear)")
    mode.add_argument("--labels", action="store_true",
                      help="input is a region label map (1 cord, 2 lesion): per-region spline, > 0.5, lesion over cord")
    parser.add_argument("--threshold", type=float, default=None,
                        help="binarize the output: value > THRESHOLD -> 1 (uint8), e.g. 0.5 for masks")


def run(args: argparse.Namespace) -> int:
    """Warp ``args.input`` onto the grid of ``args.reference``."""
    from sclesion.core.atomic import save_nifti
    from sclesion.core.errors import InputError
    from sclesion.core.nifti import load_nifti
    from sclesion.preprocessing.straightening.warp import apply_warp, warp_labels_back

    if args.output.exists():
        print(f"{args.output}: exists, skipped")
        return 0
    if args.labels and args.threshold is not None:
        raise InputError("--threshold does not apply to --labels (each region is binarized at 0.5)")
    moving, reference = load_nifti(args.input), load_nifti(args.reference)
    warp = _load_field(args.warp)
    if args.labels:
        out = warp_labels_back(moving, warp, reference)
    else:
        out = apply_warp(moving, warp, reference, interp=args.interp, threshold=args.threshold)
    save_nifti(out, args.output)
    print(f"{args.output}: written ({' x '.join(str(n) for n in out.shape)} voxels)")
    return 0


def _load_field(path: Path):
    """Open a warping field (a 4D/5D NIfTI) with one clear error for a missing or unreadable file."""
    import zlib

    import nibabel as nib

    from sclesion.core.errors import InputError

    if not path.is_file():
        raise InputError("file not found", path)
    try:
        return nib.load(path)
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, zlib.error, ValueError) as err:
        raise InputError(f"cannot read as NIfTI ({type(err).__name__}: {err})", path) from None
