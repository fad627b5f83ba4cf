"""``sclesion check BIDS_ROOT``: discover a BIDS dataset and validate every image/label pair.

Prints one line per problem (``<file>: <problem>``) and a summary; exits 1 if there is any problem.
"""

from __future__ import annotations

import argparse

from sclesion.data.bids import check, discover
from sclesion.core.nifti import AFFINE_ATOL_MM


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bids_root", help="BIDS dataset folder (sub-*/[ses-*/]anat, derivatives/labels)")
    parser.add_argument(
        "--allow-missing-labels",
        action="store_true",
        help="do not report images that lack a cord (_seg-manual) or lesion (_lesion-manual) label",
    )
    parser.add_argument(
        "--atol-mm",
        type=float,
        default=AFFINE_ATOL_MM,
        help=f"tolerance on image/label affine entries in mm (default {AFFINE_ATOL_MM:g})",
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
