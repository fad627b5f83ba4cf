"""``sclesion variants``: build the dataset variants (stitched native, chunks and stitched straightened)."""

from __future__ import annotations

import argparse
import sys

from sclesion.cli import arguments

DESCRIPTION = """\
Build three dataset variants from a BIDS dataset of chunks (paper 2.4; the study's fourth variant,
chunks_native, is the dataset itself):
  stitched_native        the chunks of each session stitched into one whole-spine image and masks
  chunks_straightened    each chunk straightened along its own cord mask
  stitched_straightened  each stitched image straightened along its whole-spine cord mask

reads:   BIDS_ROOT: sub-*/[ses-*/]anat/*_T2w.nii[.gz] chunks, their derivatives/labels *_seg-manual and
         *_lesion-manual masks (.nii or .nii.gz), participants.tsv (the site column selects --sites)
writes:  WORK_DIR/variants/<variant>/: BIDS trees named like the dataset (stitched images drop the chunk
         entity; images keep their extension), labels in derivatives/labels, for straightened variants both
         warping fields in derivatives/warps (<stem>_from-native_to-straight_xfm.nii.gz,
         <stem>_from-straight_to-native_xfm.nii.gz and its .json naming the native image); a hidden
         .<name>.provenance.json beside every output"""

EPILOG = """\
example:
  sclesion variants _data/demo/bids -o _data/demo/work --jobs 2

rerun:   a job whose outputs' records match its inputs and --fov-mm is skipped; any other is done again as a
         whole (an interrupted run resumes; a changed input or option never leaves a stale output).
errors:  one line per failed image on stderr and exit status 1 (the other images are built); bad options
         or an unreadable dataset: one line, exit status 2. With --jobs, workers die with the command."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM
    from sclesion.preprocessing.variants import VARIANTS

    parser.add_argument("bids_root", help="the native BIDS dataset (chunks with derivatives/labels)")
    parser.add_argument("-o", "--work-dir", required=True, help="variants go to WORK_DIR/variants/<variant>/")
    parser.add_argument("--variant", action="append", choices=VARIANTS[1:],
                        help="build only this variant (repeatable; default: all three)")
    parser.add_argument("--sites", default="TUM",
                        help="comma-separated sites (participants.tsv column 'site'), or 'all' (default: TUM)")
    parser.add_argument("--fov-mm", type=arguments.fov_mm, default=STRAIGHT_FOV_HALF_WIDTH_MM,
                        help=f"half width of the straight field of view in mm (> 0, <= 100; default "
                             f"{STRAIGHT_FOV_HALF_WIDTH_MM:g})")
    arguments.add_jobs(parser)


def run(args: argparse.Namespace) -> int:
    from sclesion.preprocessing.variants import VARIANTS, build_variants

    sites = None if args.sites == "all" else tuple(args.sites.split(","))
    report = build_variants(args.bids_root, args.work_dir, tuple(args.variant or VARIANTS[1:]), sites=sites,
                            fov_mm=args.fov_mm, n_jobs=args.jobs)
    summary = report.assign(status=report["status"].str.split(":").str[0])
    print(summary.groupby(["variant", "status"]).size().to_string())
    failed = report[report["status"].str.startswith("failed")]
    for _, row in failed.iterrows():
        print(f"{row['image']}: {row['status']}", file=sys.stderr)
    return 1 if len(failed) else 0
