"""``sclesion variants``: build the dataset variants (chunks/stitched x native/straightened)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM
    from sclesion.preprocessing.variants import VARIANTS

    parser.add_argument("bids_root", help="the native BIDS dataset (chunks with derivatives/labels)")
    parser.add_argument("-o", "--work-dir", required=True, help="variants go to WORK_DIR/variants/<variant>/")
    parser.add_argument("--variant", action="append", choices=VARIANTS[1:],
                        help="build only this variant (repeatable; default: all three)")
    parser.add_argument("--sites", default="TUM",
                        help="comma-separated sites (participants.tsv column 'site'), or 'all' (default: TUM)")
    parser.add_argument("--fov-mm", type=float, default=STRAIGHT_FOV_HALF_WIDTH_MM, help="half width of the straight field of view")
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes")


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
