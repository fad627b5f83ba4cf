"""``sclesion lesions -l LESION_MASK -s CORD_MASK -o OUT.tsv``: per-lesion morphometrics of any pair of masks."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Measure every lesion of a lesion mask against its cord mask, as SCT's sct_analyze_lesion defines the
measures (book/methods.md, "The model as a tool").

reads:   a binary lesion mask and a binary cord mask on the same grid (.nii or .nii.gz)
writes:  OUT.tsv, one row per lesion: lesion_id, volume_mm3, length_mm and max_equivalent_diameter_mm
         (corrected for the cord's angle), max_axial_damage_ratio, centroid_{x,y,z}_mm (scanner space),
         n_voxels, chunk and region"""

EPILOG = """\
example:
  sclesion lesions -l sub-tum001_lesion_seg.nii.gz -s sub-tum001_sc_seg.nii.gz -o sub-tum001_lesions.tsv

rerun:   the table is measured again and replaced whole (it is cheap); OUT is never one of the masks.
errors:  one line naming the file and the problem (unreadable, not binary, off the other mask's grid),
         exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion lesions``."""
    parser.add_argument("-l", "--lesion", required=True, type=Path, help="binary lesion mask (NIfTI)")
    parser.add_argument("-s", "--cord", required=True, type=Path, help="binary cord mask on the same grid (NIfTI)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="output table (.tsv)")
    parser.add_argument("--connectivity", type=int, default=6, choices=(6, 18, 26),
                        help="voxel neighbourhood of one lesion (default 6, the study's; SCT uses 18)")


def run(args: argparse.Namespace) -> int:
    """Write the lesion table of ``args.lesion`` and ``args.cord`` to ``args.output``."""
    from sclesion.core.atomic import prepare_folder, refuse_inputs
    from sclesion.evaluation.morphometrics import analyze_files, write_table

    refuse_inputs([args.output], [args.lesion, args.cord])
    prepare_folder(args.output.parent)
    table = analyze_files(args.lesion, args.cord, args.connectivity)
    write_table(table, args.output)
    print(f"{len(table)} lesion(s), {table['volume_mm3'].sum():.1f} mm^3 in all -> {args.output}")
    return 0
