"""``sclesion check BIDS_ROOT``: discover a BIDS dataset and validate every image/label pair."""

from __future__ import annotations

import argparse

from sclesion.cli import arguments
from sclesion.core.nifti import AFFINE_ATOL_MM
from sclesion.data.bids import check, discover


DESCRIPTION = """\
Discover a BIDS dataset and validate every image and label: each image readable, 3D, finite; each label on
its image's grid (shape, affine within --atol-mm) and binary {0, 1}; every image with both labels; every
label with its image; every subject in participants.tsv.

reads:   BIDS_ROOT: sub-*/[ses-*/]anat/*_T2w.nii[.gz], derivatives/labels/**/*_seg-manual.nii[.gz] and
         *_lesion-manual.nii[.gz], participants.tsv
writes:  nothing; one line per problem (<file>: <problem>) and a summary on stdout"""

EPILOG = """\
example:
  sclesion check /data/my_bids

exit status: 0 when there is no problem, 1 when a problem was found, 2 when the dataset cannot be read at all
         (no images, unparsable names) or an option is bad.
rerun:   reads everything again (nothing is cached)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bids_root", help="BIDS dataset folder (sub-*/[ses-*/]anat, derivatives/labels)")
    parser.add_argument(
        "--allow-missing-labels",
        action="store_true",
        help="do not report images that lack a cord (_seg-manual) or lesion (_lesion-manual) label",
    )
    parser.add_argument(
        "--atol-mm",
        type=arguments.tolerance_mm,
        default=AFFINE_ATOL_MM,
        help=f"tolerance on image/label affine entries in mm, >= 0 (default {AFFINE_ATOL_MM:g})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    table = discover(args.bids_root)
    problems = check(
        args.bids_root,
        require_labels=not args.allow_missing_labels,
        atol_mm=args.atol_mm,
        progress=not args.quiet,
    )
    for line in problems:
        print(line)
    n_subjects = table["participant_id"].nunique()
    summary = f"{len(table)} images of {n_subjects} subjects checked: "
    print(summary + (f"{len(problems)} problem(s)" if problems else "no problems"))
    return 1 if problems else 0
