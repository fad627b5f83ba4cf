"""``sclesion split BIDS_ROOT -o SPLIT.tsv [--exclusions FILE]``: the patient-wise train/test split.

Writes ``participant_id, site, split`` (see :mod:`sclesion.split` for the rules) and prints the counts
per site and split.
"""

from __future__ import annotations

import argparse

from sclesion.split import SEED, TEST_FRACTION, split_dataset, write_split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bids_root", help="BIDS dataset folder (participants.tsv gives each subject's site)")
    parser.add_argument("-o", "--output", required=True, help="split TSV to write")
    parser.add_argument(
        "--exclusions", help="TSV of excluded subjects (participant_id<TAB>reason), e.g. data_manifest/exclusions/"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the 80/20 split (default {SEED})")
    parser.add_argument(
        "--test-fraction", type=float, default=TEST_FRACTION, help=f"test share of the pooled sites (default {TEST_FRACTION})"
    )


def run(args: argparse.Namespace) -> int:
    split = split_dataset(args.bids_root, args.exclusions, args.seed, args.test_fraction)
    write_split(split, args.output)
    counts = split.fillna({"site": "n/a"}).groupby(["site", "split"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"wrote {args.output}: {len(split)} subjects")
    return 0
