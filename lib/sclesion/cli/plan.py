"""``sclesion plan [--profile demo] [--dataset KEY]``: nnU-Net fingerprint, plans, preprocessing; plans table.

Converts (if needed) and plans every dataset of the profile's grid with the profile's worker counts, adds
the full superior-inferior patch configuration, writes the small-network plans of a CPU profile, and prints
the plans in the layout of the paper's Table A1 beside the paper's values (see :mod:`sclesion.nnunet.plans`).
"""

from __future__ import annotations

import argparse


DESCRIPTION = """\
nnU-Net fingerprint, plans and preprocessing of the profile's datasets (converting them first if needed),
the full superior-inferior patch configuration, and the plans printed beside the paper's Table A1.

reads:   the profile (or --bids-root, --work-dir, --split), the nnU-Net raw datasets of 'sclesion convert'
writes:  WORK_DIR/nnunet/preprocessed/Dataset9XX_<Title>/ (nnU-Net's plans and preprocessed data); logs in
         WORK_DIR/nnunet/logs/"""

EPILOG = """\
example:
  sclesion plan --profile demo

rerun:   planned datasets are kept; a failed nnU-Net step is reported in one line naming its log (exit 1)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclesion.cli.profile_options import add_profile_arguments

    add_profile_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from sclesion.cli.profile_options import context_from_arguments
    from sclesion.nnunet.environment import NnunetStepError
    from sclesion.nnunet.plans import beside_paper, load_plans, plans_table
    from sclesion.nnunet.runner import prepare

    ctx = context_from_arguments(args)
    try:
        prepared = prepare(ctx.settings, ctx.bids_root, ctx.work_dir, ctx.split, ctx.datasets, n_jobs=ctx.n_jobs)
    except NnunetStepError as err:
        print(f"sclesion plan: error: {err}")
        return 1
    tables = []
    for row in prepared.itertuples(index=False):
        plans = load_plans(row.plans)
        tables.append(plans_table(plans, row.dataset))
        print(f"{row.name}: {row.n_training} training, {row.n_test} test images; plans {row.plans}")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(beside_paper(pd.concat(tables, ignore_index=True)).to_string(index=False))
    return 0
