"""``sclesion straighten``: straighten the spinal cord of an image along its cord mask.

Example::

    sclesion straighten -i sub-tum001_ses-20200101_acq-ax_chunk-1_T2w.nii.gz \\
        -s sub-tum001_ses-20200101_acq-ax_chunk-1_T2w_seg-manual.nii.gz -o straightened/ \\
        --mask sub-tum001_ses-20200101_acq-ax_chunk-1_T2w_seg-manual.nii.gz

Writes into the output folder: the straightened image (same file name), the two warping fields
``<stem>_from-native_to-straight_xfm.nii.gz`` (straight grid; carries native images to straight space) and
``<stem>_from-straight_to-native_xfm.nii.gz`` (native grid; carries straight images back), the centerline
``<stem>_centerline.tsv`` and each ``--mask`` warped to straight space (linear, then > threshold). The fields
are ITK/ANTs-style displacement fields (5D, LPS mm), usable with ``sclesion apply-warp``. Outputs that exist
already are kept (a finished run is skipped).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion straighten``."""
    parser.add_argument("-i", "--image", required=True, type=Path, metavar="IMAGE", help="image (.nii or .nii.gz)")
    parser.add_argument("-s", "--seg", required=True, type=Path, metavar="CORD_MASK",
                        help="cord mask on the image grid (voxels > 0.5 are cord)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM

    parser.add_argument("--fov-mm", type=float, default=STRAIGHT_FOV_HALF_WIDTH_MM,
                        help=f"half width of the straight in-plane field of view in mm (default: {STRAIGHT_FOV_HALF_WIDTH_MM:g}, as SCT)")
    parser.add_argument("--mask", nargs="+", default=[], type=Path, metavar="MASK",
                        help="masks to warp into straight space with linear interpolation then > --threshold")
    parser.add_argument("--threshold", type=float, default=0.5, help="binarization threshold of --mask (default 0.5)")
    parser.add_argument("--interp", choices=("nearest", "linear", "spline"), default="spline",
                        help="interpolation of the image (default: spline, as SCT)")


def run(args: argparse.Namespace) -> int:
    """Straighten ``args.image``; print what was written."""
    from sclesion.preprocessing.straightening.straighten import straighten_files

    written = straighten_files(
        args.image, args.seg, args.output, fov_mm=args.fov_mm, masks=tuple(args.mask),
        threshold=args.threshold, interp=args.interp,
    )
    state = "all outputs exist, skipped" if written.skipped else "written"
    print(f"{args.output}: {state}")
    for path in written.all:
        print(f"  {path.name}")
    return 0
