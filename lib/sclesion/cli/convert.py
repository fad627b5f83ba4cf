"""``sclesion convert [--profile demo] [--dataset KEY]``: dataset variants -> nnU-Net raw datasets.

Converts every dataset of the profile's ``nnunet_grid`` (or those named with ``--dataset``) to
``<work_dir>/nnunet/raw/Dataset9XX_<Title>/`` with region labels, RPI images, per-site test sets and a case
table (see :mod:`sclesion.nnunet.convert`). Finished datasets are left as they are.
"""

from __future__ import annotations

import argparse


DESCRIPTION = """\
Convert the profile's dataset variants to nnU-Net v2 raw datasets: region labels (1 cord, 2 lesion), RPI
images, per-site test sets and a case table (see sclesion.nnunet.convert).

reads:   the profile (or --bids-root, --work-dir, --split): the BIDS dataset, WORK_DIR/variants/<variant>/
         built by 'sclesion variants', the split TSV (written if missing)
writes:  WORK_DIR/nnunet/raw/Dataset9XX_<Title>/ (imagesTr, labelsTr, imagesTs_<site>, labelsTs_<site>,
         dataset.json, cases.tsv and a marker holding the inputs' checksum)"""

EPILOG = """\
example:
  sclesion convert --profile demo --dataset chunks_native --jobs 2

rerun:   a dataset whose marker matches the inputs' checksum is kept; one converted from other inputs, or
         left unfinished, is refused with one line naming it (delete it to convert again).
errors:  one line naming the file or option and the problem, exit status 2. Workers die with the command."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclesion.cli.profile_options import add_profile_arguments

    add_profile_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from sclesion.cli.profile_options import context_from_arguments
    from sclesion.nnunet.convert import convert_dataset
    from sclesion.nnunet.datasets import NnunetFolders, dataset_spec

    ctx = context_from_arguments(args)
    keys = [dataset_spec(d).key for d in ctx.datasets] if ctx.datasets else list(ctx.settings.grid)
    for key in keys:
        spec = dataset_spec(key)
        cases = convert_dataset(spec, ctx.bids_root, ctx.work_dir, ctx.split, n_jobs=ctx.n_jobs)
        counts = ", ".join(f"{subset} {n}" for subset, n in cases.groupby("subset").size().items())
        print(f"{NnunetFolders(ctx.work_dir).raw / spec.name}: {counts}")
    return 0
