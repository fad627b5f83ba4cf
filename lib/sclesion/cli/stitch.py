"""``sclesion stitch``: stitch the chunks of one session into one whole-spine image or mask.

Example::

    sclesion stitch -i sub-tum001_ses-20200101_acq-ax_chunk-{1,2,3}_T2w.nii.gz \\
        -o sub-tum001_ses-20200101_acq-ax_T2w.nii.gz

Images or masks are told apart by the file names (``_seg-manual``, ``_lesion-manual`` ... mean mask) or the
values, unless ``--mask`` or ``--image`` says so. An existing output is left alone (the run is skipped).
Gaps between chunks are left empty and reported on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion stitch``."""
    parser.add_argument("-i", "--input", nargs="+", required=True, metavar="CHUNK", type=Path,
                        help="chunk files (.nii or .nii.gz) of one subject and session, in any order")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                        help="stitched output file; skipped if it exists")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--mask", dest="is_mask", action="store_const", const=True, default=None,
                      help="inputs are masks / label maps (nearest neighbour, weighted vote, uint8 output)")
    kind.add_argument("--image", dest="is_mask", action="store_const", const=False,
                      help="inputs are images (cubic spline, ramp-weighted sum, float32 output)")


def run(args: argparse.Namespace) -> int:
    """Stitch ``args.input`` into ``args.output``; print the output geometry and any gap."""
    from sclesion.preprocessing.stitching.stitch import stitch_files

    existed = args.output.exists()
    report = stitch_files(args.input, args.output, is_mask=args.is_mask)
    spacing = " x ".join(f"{s:g}" for s in report.spacing)
    shape = " x ".join(str(n) for n in report.shape)
    state = "exists, skipped" if existed else "written"
    print(f"{args.output}: {state} ({shape} voxels of {spacing} mm, {len(args.input)} chunks)")
    for junction in report.junctions:
        if junction.gap_mm == 0:
            print(f"  chunks {junction.first + 1} and {junction.second + 1} overlap by {max(junction.overlap_mm, 0):.1f} mm")
    for line in report.messages():
        print(f"sclesion stitch: warning: {line}", file=sys.stderr)
    return 0
