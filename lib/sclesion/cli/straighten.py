"""``sclesion straighten``: straighten the spinal cord of an image along its cord mask."""

from __future__ import annotations

import argparse
from pathlib import Path

from sclesion.cli import arguments

DESCRIPTION = """\
Straighten the spinal cord of an image along the centerline of its cord mask (SCT's method, paper 2.2.2),
and write both warping fields.

reads:   IMAGE (.nii or .nii.gz: readable, 3D, finite values); CORD_MASK and every --mask on the image grid
         (same shape, affine within 0.001 mm) holding only 0 and 1
writes:  into DIR, as one set: the straightened image (IMAGE's file name); <stem>_from-native_to-straight_xfm.nii.gz
         (straight grid; carries native images to straight space) and <stem>_from-straight_to-native_xfm.nii.gz
         (native grid; carries straight images back), ITK/ANTs displacement fields usable with
         'sclesion apply-warp'; <stem>_centerline.tsv; each --mask warped to straight space (linear, then
         > --threshold) under its own file name; a hidden .<name>.provenance.json beside each"""

EPILOG = """\
example:
  sclesion straighten -i sub-tum001_ses-20200101_acq-ax_chunk-1_T2w.nii.gz \\
      -s sub-tum001_ses-20200101_acq-ax_chunk-1_T2w_seg-manual.nii.gz -o straightened/ \\
      --mask sub-tum001_ses-20200101_acq-ax_chunk-1_T2w_seg-manual.nii.gz

rerun:   skipped when every output's record matches the inputs and options; otherwise every output of the
         set is written again (never a mix of runs). DIR must not hold an input under an output's name.
errors:  one line naming the file or option and the problem, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion straighten``."""
    parser.add_argument("-i", "--image", required=True, type=Path, metavar="IMAGE", help="image (.nii or .nii.gz)")
    parser.add_argument("-s", "--seg", required=True, type=Path, metavar="CORD_MASK",
                        help="binary cord mask on the image grid")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM

    parser.add_argument("--fov-mm", type=arguments.fov_mm, default=STRAIGHT_FOV_HALF_WIDTH_MM,
                        help="half width of the straight in-plane field of view in mm (> 0, <= 100; default: "
                             f"{STRAIGHT_FOV_HALF_WIDTH_MM:g}, as SCT)")
    parser.add_argument("--mask", nargs="+", default=[], type=Path, metavar="MASK",
                        help="binary masks to warp into straight space with linear interpolation then > --threshold")
    parser.add_argument("--threshold", type=arguments.mask_threshold, default=0.5,
                        help="binarization threshold of --mask, strictly between 0 and 1 (default 0.5)")
    parser.add_argument("--interp", choices=("nearest", "linear", "spline"), default="spline",
                        help="interpolation of the image (default: spline, as SCT)")


def run(args: argparse.Namespace) -> int:
    """Straighten ``args.image``; print what was written."""
    from sclesion.preprocessing.straightening.straighten import straighten_files

    written = straighten_files(
        args.image, args.seg, args.output, fov_mm=args.fov_mm, masks=tuple(args.mask),
        threshold=args.threshold, interp=args.interp,
    )
    state = ("up to date (same inputs and options), skipped" if written.skipped else
             "rewritten (inputs or options changed)" if written.rewritten else "written")
    print(f"{args.output}: {state}")
    for path in written.all:
        print(f"  {path.name}")
    return 0
