"""``sclesion split BIDS_ROOT -o SPLIT.tsv [--exclusions FILE]``: the patient-wise train/test split.

Writes ``participant_id, site, split`` (see :mod:`sclesion.data.split` for the rules) and prints the counts per
site and split. An existing output is kept (after checking it fits the dataset) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse

from sclesion.data.split import SEED, TEST_FRACTION, ensure_split, split_dataset, write_split

_STATUS = {
    "written": "wrote",
    "reproduced": "kept (identical to the recomputed split)",
    "kept": "kept (differs from the recomputed split; --force to replace it)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bids_root", help="BIDS dataset folder (participants.tsv gives each subject's site)")
    parser.add_argument("-o", "--output", required=True, help="split TSV to write")
    parser.add_argument(
        "--exclusions", help="TSV of excluded subjects (participant_id<TAB>reason), e.g. data_manifest/exclusions/"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the 80/20 split (default {SEED})")
    parser.add_argument(
        "--test-fraction", type=float, default=TEST_FRACTION,
        help=f"share of the pooled (non train-only, non test-only) subjects that go to test (default {TEST_FRACTION})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    if args.force:
        split = split_dataset(args.bids_root, args.exclusions, args.seed, args.test_fraction)
        write_split(split, args.output)
        status = "written"
    else:
        split, status = ensure_split(args.bids_root, args.output, args.exclusions, args.seed, args.test_fraction)
    counts = split.fillna({"site": "n/a"}).groupby(["site", "split"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"{_STATUS[status]} {args.output}: {len(split)} subjects")
    return 0
