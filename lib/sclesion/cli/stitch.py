"""``sclesion stitch``: stitch the chunks of one session into one whole-spine image or mask."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Stitch the chunks of one subject and session into one whole-spine image or mask (ramp-weighted blending
of images, weighted vote of masks; paper 2.2.1).

reads:   the chunk files (.nii or .nii.gz), all images or all masks; images or masks are told apart by the
         file names (_seg-manual, _lesion-manual, _mask ... mean mask) or the values, unless --mask or
         --image says so
writes:  OUT (.nii or .nii.gz; float32 image or uint8 label map) and its hidden provenance record
         .OUT.provenance.json (checksums of the chunks, options); gaps between chunks are left empty and
         reported on stderr"""

EPILOG = """\
example:
  sclesion stitch -i sub-tum001_ses-20200101_acq-ax_chunk-{1,2,3}_T2w.nii.gz \\
      -o stitched/sub-tum001_ses-20200101_acq-ax_T2w.nii.gz

rerun:   OUT is skipped when its record matches the chunks and options; otherwise (other or changed chunks,
         another --mask/--image) it is stitched again and replaced. OUT is never one of the chunks.
errors:  one line naming the file and the problem (unreadable, truncated, NaN, not 3D, chunks of different
         subjects, a mix of images and masks), exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion stitch``."""
    parser.add_argument("-i", "--input", nargs="+", required=True, metavar="CHUNK", type=Path,
                        help="chunk files (.nii or .nii.gz) of one subject and session, in any order")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                        help="stitched output file (.nii or .nii.gz)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--mask", dest="is_mask", action="store_const", const=True, default=None,
                      help="inputs are masks / label maps (nearest neighbour, weighted vote, uint8 output)")
    kind.add_argument("--image", dest="is_mask", action="store_const", const=False,
                      help="inputs are images (cubic spline, ramp-weighted sum, float32 output)")


def run(args: argparse.Namespace) -> int:
    """Stitch ``args.input`` into ``args.output``; print the output geometry and any gap."""
    from sclesion.preprocessing.stitching.stitch import stitch_files

    report = stitch_files(args.input, args.output, is_mask=args.is_mask)
    spacing = " x ".join(f"{s:g}" for s in report.spacing)
    shape = " x ".join(str(n) for n in report.shape)
    print(f"{args.output}: {report.status} ({shape} voxels of {spacing} mm, {len(args.input)} chunks)")
    for junction in report.junctions:
        if junction.gap_mm == 0:
            print(f"  chunks {junction.first + 1} and {junction.second + 1} overlap by "
                  f"{max(junction.overlap_mm, 0):.1f} mm")
    for line in report.messages():
        print(f"sclesion stitch: warning: {line}", file=sys.stderr)
    return 0
