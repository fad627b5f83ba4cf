"""Command-line arguments shared by ``sclesion convert``, ``plan`` and ``train``: a profile, with overrides."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sclesion.core.errors import InputError
from sclesion.core.profile import Profile
from sclesion.nnunet.settings import NnunetSettings


@dataclass
class Context:
    """What a command works on: the profile's settings, folders and split."""

    settings: NnunetSettings
    bids_root: Path
    work_dir: Path
    split: pd.DataFrame
    datasets: list[str] | None
    n_jobs: int


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile``, ``--bids-root``, ``--work-dir``, ``--split``, ``--dataset`` and ``--jobs``."""
    parser.add_argument("--profile", default="demo",
                        help="profile name (demo, smoke, paper) or YAML file with the nnunet_* keys (default demo)")
    parser.add_argument("--bids-root", help="BIDS dataset (default: the profile's bids_root)")
    parser.add_argument("--work-dir", help="work folder (default: the profile's work_dir)")
    parser.add_argument("--split", help="split TSV participant_id/site/split (default: the profile's split_tsv)")
    parser.add_argument("--dataset", action="append",
                        help="only this dataset (key such as chunks_native, or id such as 901); repeatable")
    from sclesion.cli.arguments import add_jobs

    add_jobs(parser, default=None, what="worker processes for conversion")


def context_from_arguments(args: argparse.Namespace) -> Context:
    """Resolve the profile and its overrides; the split file is checked against the dataset (or written).

    Raises
    ------
    sclesion.core.errors.InputError
        If the profile, the split or a dataset name is invalid.
    """
    from sclesion.core.workers import check_jobs
    from sclesion.data.split import ensure_split

    profile = Profile.load(args.profile)
    if profile.nnunet is None:
        raise InputError(f"profile {profile.name!r} has no nnunet_grid", profile.source)
    bids_root = Path(args.bids_root or profile.bids_root)
    work_dir = Path(args.work_dir or profile.work_dir)
    split_path = args.split or profile.split_tsv or work_dir / "split.tsv"
    split, _ = ensure_split(bids_root, split_path, profile.exclusions, profile.seed, profile.test_fraction)
    return Context(settings=profile.nnunet, bids_root=bids_root, work_dir=work_dir, split=split,
                   datasets=args.dataset, n_jobs=check_jobs(args.jobs or profile.n_jobs, "--jobs"))
