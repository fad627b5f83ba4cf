"""``sclesion apply-warp``: resample an image or mask through a warping field."""

from __future__ import annotations

import argparse
from pathlib import Path

from sclesion.cli import arguments

DESCRIPTION = """\
Resample an image or mask onto the grid of a reference image through a warping field (the ITK/ANTs/SCT
displacement-field convention: fields written by 'sclesion straighten' or by SCT work).

reads:   IN (.nii or .nii.gz: readable, 3D, finite; a file named as a mask, e.g. *_seg-*, *_lesion-*,
         *_mask, must hold only 0 and 1, and with --labels only 0, 1, 2); WARP, a field (X, Y, Z, 1, 3) of
         finite displacements defined on the grid of REFERENCE; REFERENCE (its header only)
writes:  OUT (.nii or .nii.gz): float32, IN's dtype with --interp nearest, uint8 with --threshold or --labels;
         and its hidden provenance record .OUT.provenance.json"""

EPILOG = """\
example (a straight-space prediction back to native space):
  sclesion apply-warp -i pred_straight.nii.gz -w IMAGE_from-straight_to-native_xfm.nii.gz \\
      -r IMAGE.nii.gz -o pred_native.nii.gz --interp spline --threshold 0.5

--labels warps a region label map (1 cord, 2 lesion) as the authors did: each region with spline
interpolation, > 0.5, lesion over cord.

rerun:   OUT is skipped when its record matches the inputs and options; otherwise it is computed again and
         replaced. OUT is never one of the inputs.
errors:  one line naming the file or option and the problem, exit status 2."""


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
    parser.add_argument("--threshold", type=arguments.any_threshold, default=None,
                        help="binarize the output: value > THRESHOLD -> 1 (uint8), e.g. 0.5 for masks")


def run(args: argparse.Namespace) -> int:
    """Warp ``args.input`` onto the grid of ``args.reference``."""
    from sclesion.core.atomic import save_nifti
    from sclesion.core.errors import InputError
    from sclesion.core.names import name_kind, require_nifti
    from sclesion.core.nifti import load_checked, load_field, load_nifti
    from sclesion.core.provenance import OutputSet
    from sclesion.preprocessing.straightening.warp import apply_warp, warp_labels_back

    if args.labels and args.threshold is not None:
        raise InputError("--threshold does not apply to --labels (each region is binarized at 0.5)")
    for path in (args.input, args.warp, args.reference, args.output):
        require_nifti(path)
    outputs = OutputSet("apply-warp", [args.output],
                        {"input": args.input, "warp": args.warp, "reference": args.reference},
                        {"interp": args.interp, "labels": args.labels, "threshold": args.threshold})
    status = outputs.status()
    if status == "current":
        print(f"{args.output}: up to date (same inputs and options), skipped")
        return 0
    if args.labels:
        moving = load_checked(args.input, "labels")
    elif name_kind(args.input) and not (args.interp == "nearest" and args.threshold is None):
        moving = load_checked(args.input, "mask")
    else:
        moving = load_checked(args.input, "image")
        if args.threshold is not None:
            _refuse_unusual_mask(moving, args.input)
    reference = load_nifti(args.reference)
    warp = load_field(args.warp)
    if args.labels:
        out = warp_labels_back(moving, warp, reference)
    else:
        out = apply_warp(moving, warp, reference, interp=args.interp, threshold=args.threshold)
    with outputs.writing():
        save_nifti(out, args.output)
    state = "rewritten (inputs or options changed)" if status == "stale" else "written"
    print(f"{args.output}: {state} ({' x '.join(str(n) for n in out.shape)} voxels)")
    return 0


def _refuse_unusual_mask(moving, path: Path) -> None:
    """With --threshold, refuse an input holding exactly two values 0 and v != 1: a mask coded 0/v, which a
    threshold meant for 0/1 masks would grow or shrink."""
    import numpy as np

    from sclesion.core.errors import InputError

    values = np.unique(np.asanyarray(moving.dataobj)[::3, ::3, ::3])
    if values.size == 2 and values[0] == 0 and values[1] != 1:
        full = np.unique(np.asanyarray(moving.dataobj))
        if full.size == 2:
            raise InputError(f"looks like a mask coded 0/{full[1]:g}; masks must hold only 0 and 1 "
                             "(recode it, or warp it without --threshold)", path)
