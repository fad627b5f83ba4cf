"""``sclesion lesions -l LESION_MASK -s CORD_MASK -o OUT.tsv``: per-lesion morphometrics of any pair of masks.

One row per lesion: volume (mm^3), S-I length and maximum equivalent diameter corrected for the cord's angle
(mm), maximum axial damage ratio, centroid (scanner mm), chunk and region; as SCT's ``sct_analyze_lesion``
defines them. See :mod:`sclesion.evaluation.morphometrics`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--lesion", required=True, help="binary lesion mask (NIfTI)")
    parser.add_argument("-s", "--cord", required=True, help="binary cord mask on the same grid (NIfTI)")
    parser.add_argument("-o", "--output", required=True, help="output table (.tsv)")
    parser.add_argument("--connectivity", type=int, default=6, choices=(6, 18, 26),
                        help="voxel neighbourhood of one lesion (default 6, the study's; SCT uses 18)")


def run(args: argparse.Namespace) -> int:
    from sclesion.evaluation.morphometrics import analyze_files, write_table

    table = analyze_files(args.lesion, args.cord, args.connectivity)
    write_table(table, args.output)
    print(f"{len(table)} lesion(s), {table['volume_mm3'].sum():.1f} mm^3 in all -> {args.output}")
    return 0
