"""``sclesion predict -i IMAGE_OR_DIR -m MODEL_DIR -o OUT``: segment cord and lesions with a trained model.

Uses every available fold (ensemble), tile step 0.5, Gaussian weighting, no mirroring, checkpoint_final.
Writes, in the input's own orientation and grid, ``OUT/labelmaps/<stem>.nii.gz`` (0 background, 1 cord,
2 lesion) and ``OUT/masks/<stem>_seg-pred.nii.gz``, ``<stem>_lesion-pred.nii.gz``. For a straightened input,
give its inverse field and native image: the outputs are then warped back to native space. See
:mod:`sclesion.nnunet.predict`.
"""

from __future__ import annotations

import argparse

from sclesion.cli import arguments


DESCRIPTION = """\
Segment cord and lesions with a trained model (every available fold ensembled, tile step 0.5, Gaussian
weighting, no mirroring), in the input's own orientation and grid.

reads:   -i a NIfTI image or a folder of *.nii / *.nii.gz images; -m the model folder
         <trainer>__<plans>__<configuration> with fold_<k>/checkpoint_final.pth; for a straightened input its
         straight->native field and native image
writes:  OUT/labelmaps/<stem>.nii.gz (0 background, 1 cord, 2 lesion), OUT/masks/<stem>_seg-pred.nii.gz and
         <stem>_lesion-pred.nii.gz"""

EPILOG = """\
example:
  sclesion predict -i image.nii.gz -m results/Dataset901_ChunksNative/nnUNetTrainer__nnUNetPlans__2d -o pred/

rerun:   an image's outputs are kept when their provenance records match the image, the model's checkpoints
         and plans and the folds; otherwise it is predicted again and they are replaced.
errors:  one line naming the file or option and the problem, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--input", required=True, help="a NIfTI image, or a folder of *.nii.gz images")
    parser.add_argument("-m", "--model", required=True,
                        help="trained model folder <trainer>__<plans>__<configuration> (holding fold_<k>/)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--folds", type=arguments.whole(0), nargs="+",
                        help="folds to ensemble (default: all available)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--threads", type=arguments.whole(1), help="torch threads (default: torch's default)")
    parser.add_argument("--inverse-field", help="straightened input only: its straight->native warping field")
    parser.add_argument("--native-image", help="straightened input only: the native image it was made from")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sclesion.core.errors import InputError
    from sclesion.core.names import is_nifti
    from sclesion.nnunet.predict import predict_files

    source = Path(args.input)
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if is_nifti(p))
        if not images:
            raise InputError("no .nii.gz or .nii image in this folder", source)
    elif source.is_file():
        images = [source]
    else:
        raise InputError("input not found", source)
    if (args.inverse_field is None) != (args.native_image is None):
        raise InputError("give both --inverse-field and --native-image, or neither")
    if args.inverse_field and len(images) != 1:
        raise InputError("--inverse-field and --native-image apply to a single input image", source)
    straight = args.inverse_field is not None
    table = predict_files(
        args.model, images, args.output, folds=args.folds, device=args.device, threads=args.threads,
        inverse_fields=[args.inverse_field] if straight else None,
        native_images=[args.native_image] if straight else None,
    )
    for row in table.itertuples(index=False):
        print(f"{row.image} -> {row.labelmap} ({row.status})")
    return 0
