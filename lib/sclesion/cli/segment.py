"""``sclesion segment -i IMAGE|FOLDER|BIDS_ROOT -m MODEL_DIR -o OUT``: cord and lesions of your own scans.

Any nnU-Net v2 region model folder works (this project's, or the authors' released one). Writes, per image,
``<stem>_sc_seg.nii.gz`` (cord including lesions) and ``<stem>_lesion_seg.nii.gz`` on the input's grid, JSON
sidecars, ``<stem>_lesions.tsv`` (one row per lesion), and per run ``segment_summary.tsv`` and ``qc.html``.
Finished images are kept when image, model and options are unchanged. See :mod:`sclesion.segment.run`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="a NIfTI image, a folder of images, or a BIDS root")
    parser.add_argument("-m", "--model", required=True,
                        help="nnU-Net v2 model folder (dataset.json, plans.json, fold_<k>/checkpoint_final.pth)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--folds", type=int, nargs="+", help="folds to ensemble (default: all available)")
    parser.add_argument("--jobs", type=int, default=1, help="images segmented at once (default 1)")
    parser.add_argument("--largest-cord", action="store_true",
                        help="keep the largest cord component (the lesion output is not touched)")
    parser.add_argument("--drop-lesions-outside-cord", action="store_true",
                        help="drop lesions with no voxel in the cord mask")
    parser.add_argument("--min-lesion-mm3", type=float, default=0.0,
                        help="drop lesions smaller than this volume in mm^3 (default 0: keep all)")
    parser.add_argument("--connectivity", type=int, default=6, choices=(6, 18, 26),
                        help="voxel neighbourhood of one lesion (default 6, the study's; SCT uses 18)")
    parser.add_argument("--no-qc", action="store_true", help="do not write qc.html")


def run(args: argparse.Namespace) -> int:
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
