"""``sclesion segment -i IMAGE|FOLDER|BIDS_ROOT -m MODEL_DIR -o OUT``: cord and lesions of your own scans."""

from __future__ import annotations

import argparse
from pathlib import Path

from sclesion.cli.arguments import add_jobs, number

DESCRIPTION = """\
Segment the cord and the MS lesions of your own axial T2w scans with any nnU-Net v2 region model folder (one
this project trained, or the authors' released one); measure every lesion and write a QC page (book/methods.md,
"The model as a tool").

reads:   one image (.nii or .nii.gz), the images of a folder, or every *_T2w image of a BIDS dataset; a model
         folder with dataset.json, plans.json and fold_<k>/checkpoint_final.pth
writes:  in OUT, per image (on its own grid): <stem>_sc_seg.nii.gz (cord including lesions) and
         <stem>_lesion_seg.nii.gz (uint8), their JSON sidecars (GeneratedBy: name, version, model folder,
         SHA-256 of the weights, folds, device), <stem>_lesions.tsv (one row per lesion); per run
         segment_summary.tsv and qc.html (self-contained, opens offline)"""

EPILOG = """\
example:
  sclesion segment -i sub-tum001_ses-20200101_acq-ax_chunk-3_T2w.nii.gz \\
      -m work/nnunet/results/Dataset901_ChunksNative/nnUNetTrainerDiceCELoss_noSmooth__nnUNetPlans__2d \\
      -o seg/ --drop-lesions-outside-cord

rerun:   an image's outputs are kept when their provenance records match the image, the model's weights,
         the folds and the post-processing options; otherwise it is segmented again and they are replaced.
errors:  a bad model folder or option ends the command in one line (exit status 2); a bad image is one line
         on stderr, the other images go on, exit status 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``sclesion segment``."""
    parser.add_argument("-i", "--input", required=True, type=Path,
                        help="a NIfTI image, a folder of images, or a BIDS root")
    parser.add_argument("-m", "--model", required=True, type=Path,
                        help="nnU-Net v2 model folder (dataset.json, plans.json, fold_<k>/checkpoint_final.pth)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--folds", type=int, nargs="+", help="folds to ensemble (default: all available)")
    add_jobs(parser, what="images segmented at once")
    parser.add_argument("--largest-cord", action="store_true",
                        help="keep the largest cord component (the lesion output is not touched)")
    parser.add_argument("--drop-lesions-outside-cord", action="store_true",
                        help="drop lesions with no voxel in the cord mask")
    parser.add_argument("--min-lesion-mm3", type=number(low=0.0), default=0.0,
                        help="drop lesions smaller than this volume in mm^3 (default 0: keep all)")
    parser.add_argument("--connectivity", type=int, default=6, choices=(6, 18, 26),
                        help="voxel neighbourhood of one lesion (default 6, the study's; SCT uses 18)")
    parser.add_argument("--no-qc", action="store_true", help="do not write qc.html")


def run(args: argparse.Namespace) -> int:
    """Segment every image of ``args.input``; print one line per image; exit 1 if any image failed."""
    from sclesion.segment.postprocess import PostProcessing
    from sclesion.segment.run import segment

    options = PostProcessing(largest_cord=args.largest_cord, drop_outside_cord=args.drop_lesions_outside_cord,
                             min_lesion_mm3=args.min_lesion_mm3, connectivity=args.connectivity)
    table = segment(args.input, args.model, args.output, folds=args.folds, device=args.device, jobs=args.jobs,
                    options=options, qc=not args.no_qc)
    for row in table.itertuples(index=False):
        detail = f"{row.n_lesions} lesion(s), {row.total_lesion_volume_mm3:.1f} mm^3" if row.n_lesions is not None \
            and row.status in ("segmented", "kept") else ""
        print(f"{row.image}: {row.status}{' - ' + detail if detail else ''}")
    failed = int(table["status"].str.startswith("failed").sum())
    print(f"{len(table) - failed} of {len(table)} image(s) done; outputs in {args.output}")
    return 1 if failed else 0
