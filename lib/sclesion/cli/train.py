"""``sclesion train --profile demo|paper [--executor local|slurm] [--dataset KEY]``: train the grid.

Prepares (converts and plans) the datasets, then trains every job of the profile's grid (dataset x
configuration x fold): locally, one after the other with a progress bar, skipping finished folds; or as one
SLURM job array through submitit with the profile's ``nnunet_slurm_*`` resources. See
:mod:`sclesion.nnunet.runner`.
"""

from __future__ import annotations

import argparse


DESCRIPTION = """\
Train the profile's nnU-Net grid (dataset x configuration x fold), locally one fold after the other or as
one SLURM job array through submitit; optionally predict the test sets (see sclesion.nnunet.runner).

reads:   the profile (nnunet_* keys), the prepared datasets (converted and planned first if needed)
writes:  WORK_DIR/nnunet/results/ (one folder per model and fold, checkpoint_final.pth when finished);
         with --predict, WORK_DIR/nnunet/predictions/ and its index.tsv; logs in WORK_DIR/nnunet/logs/"""

EPILOG = """\
examples:
  sclesion train --profile demo
  sclesion train --profile paper --executor slurm

rerun:   finished folds (checkpoint_final.pth) are skipped; an interrupted fold is trained again from its
         first epoch. nnU-Net's processes die with the command."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclesion.cli.profile_options import add_profile_arguments

    add_profile_arguments(parser)
    parser.add_argument("--executor", choices=("local", "slurm"),
                        help="where the jobs run (default: the profile's nnunet_executor)")
    parser.add_argument("--predict", action="store_true",
                        help="local executor: also predict the test sets of every model (index in "
                             "WORK_DIR/nnunet/predictions/index.tsv)")


def run(args: argparse.Namespace) -> int:
    from sclesion.cli.profile_options import context_from_arguments
    from sclesion.nnunet.datasets import NnunetFolders
    from sclesion.nnunet.environment import NnunetStepError
    from sclesion.nnunet.runner import grid_jobs, predict_grid, prepare, run_local, slurm_executor, submit

    ctx = context_from_arguments(args)
    executor = args.executor or ctx.settings.executor
    try:
        prepare(ctx.settings, ctx.bids_root, ctx.work_dir, ctx.split, ctx.datasets, n_jobs=ctx.n_jobs)
        jobs = grid_jobs(ctx.settings, ctx.work_dir, ctx.datasets)
        if executor == "slurm":
            folder = NnunetFolders(ctx.work_dir).logs / "slurm"
            submitted = submit(jobs, slurm_executor(ctx.settings, folder))
            print(f"submitted {len(submitted)} of {len(jobs)} jobs (the others are finished); logs in {folder}")
            for job in submitted:
                print(job.job_id)
            return 0
        print(run_local(jobs, parallel=ctx.settings.parallel_jobs).to_string(index=False))
        if args.predict:
            index = predict_grid(ctx.settings, ctx.bids_root, ctx.work_dir, ctx.datasets)
            print(index[["dataset", "configuration", "fold", "site", "n_images"]].to_string(index=False))
    except NnunetStepError as err:
        print(f"sclesion train: error: {err}")
        return 1
    return 0
