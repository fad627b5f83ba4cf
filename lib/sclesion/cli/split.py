"""``sclesion split BIDS_ROOT -o SPLIT.tsv [--exclusions FILE]``: the patient-wise train/test split."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from sclesion.cli import arguments
from sclesion.data.split import SEED, TEST_FRACTION

DESCRIPTION = """\
Write the patient-wise train/test split of a BIDS dataset (paper 2.4: NYU-like subjects train only, BWH-
and UCSF-like test only, the others 80/20 at random with seed 42) and print the counts per site and split.

reads:   BIDS_ROOT (its sub-* folders and participants.tsv, whose site column gives each subject's site);
         --exclusions FILE (participant_id<TAB>reason)
writes:  SPLIT.tsv (participant_id, site, split) and its hidden provenance record .SPLIT.tsv.provenance.json"""

EPILOG = """\
example:
  sclesion split _data/demo/bids -o split.tsv --exclusions data_manifest/exclusions/demo.tsv

rerun:   a split written by this command is kept when its record matches the dataset, exclusions and
         options, and written again otherwise. A split file from elsewhere (no record, e.g. one received
         from the authors) or edited by hand is kept after checking it lists exactly the dataset's subjects
         and sites; --force replaces it. SPLIT.tsv is never participants.tsv or the exclusion list.
errors:  one line naming the file or option and the problem, exit status 2."""

_STATUS = {
    "written": "wrote",
    "rewritten": "rewrote (the dataset, exclusions or options changed)",
    "up to date": "kept (up to date)",
    "reproduced": "kept (identical to the recomputed split)",
    "kept": "kept (differs from the recomputed split; --force to replace it)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bids_root", help="BIDS dataset folder (participants.tsv gives each subject's site)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="split TSV to write")
    parser.add_argument(
        "--exclusions", help="TSV of excluded subjects (participant_id<TAB>reason), e.g. data_manifest/exclusions/"
    )
    parser.add_argument("--seed", type=arguments.seed, default=SEED,
                        help=f"seed of the 80/20 split, >= 0 (default {SEED})")
    parser.add_argument(
        "--test-fraction", type=arguments.fraction, default=TEST_FRACTION,
        help=f"share of the pooled (non train-only, non test-only) subjects that go to test, in [0, 1] "
             f"(default {TEST_FRACTION})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from sclesion.core.errors import InputError
    from sclesion.core.provenance import OutputSet, read_record, sha256
    from sclesion.data.split import ensure_split, split_dataset, split_inputs, write_split

    inputs = split_inputs(args.bids_root, args.exclusions)
    if args.exclusions and "exclusions" not in inputs:
        raise InputError("exclusion list not found", args.exclusions)
    split = split_dataset(args.bids_root, args.exclusions, args.seed, args.test_fraction)
    content = split[["participant_id", "site", "split"]].to_csv(sep="\t", index=False)
    outputs = OutputSet("split", [args.output], inputs,
                        {"seed": args.seed, "test_fraction": args.test_fraction,
                         "split": hashlib.sha256(content.encode()).hexdigest()})
    record = read_record(args.output) if args.output.is_file() else None
    ours = record is not None and record.get("output_sha256") == sha256(args.output)  # not edited since
    if args.force or not args.output.exists() or (ours and not outputs.up_to_date()):
        status = "written" if not args.output.exists() else "rewritten"
        with outputs.writing():
            write_split(split, args.output)
    elif ours:
        status = "up to date"
    else:
        split, status = ensure_split(args.bids_root, args.output, args.exclusions, args.seed, args.test_fraction)
    counts = split.fillna({"site": "n/a"}).groupby(["site", "split"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"{_STATUS[status]} {args.output}: {len(split)} subjects")
    return 0
