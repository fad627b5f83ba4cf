"""``sclesion synth``: generate the synthetic multi-site whole-spine cohort as BIDS (SYNTHETIC DATA)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sclesion.cli import arguments

DESCRIPTION = """\
Generate the synthetic multi-site whole-spine cohort (SYNTHETIC DATA) as BIDS, deterministically from a
seed: axial T2w chunks, manual-style labels, and the ground truth.

reads:   data_manifest/cohorts/<profile>.yml (or --spec FILE), data_manifest/sites/*.yml
writes:  OUT/ (a BIDS dataset: participants.tsv, sub-*/ses-*/anat/*_T2w.nii.gz, derivatives/labels,
         derivatives/groundtruth; dataset_description.json records the spec hash); with --checksums write,
         data_manifest/checksums/<cohort>.sha256"""

EPILOG = """\
examples:
  sclesion synth --profile demo -o _data/demo/bids
  sclesion synth --profile smoke                      # into the profile's bids_root
  sclesion synth --spec my_cohort.yml -o /tmp/bids --seed 7

rerun:   nothing is written when OUT holds a cohort with the same spec hash (spec, seed, generator version);
         a cohort of another spec is replaced as a whole (generated into a hidden folder beside OUT, then
         renamed); a folder that is not a synthetic cohort, or a file, is never overwritten. Hidden folders
         left by a killed run are removed by the next.
errors:  one line naming the file or option and the problem, exit status 2. With --jobs, workers die with
         the command."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="demo",
                        help="cohort of data_manifest/cohorts/<profile>.yml (demo or smoke; default demo); "
                             "also gives the default output folder (the profile's bids_root)")
    parser.add_argument("--spec", type=Path, help="path to a cohort YAML instead of the profile's cohort")
    parser.add_argument("-o", "--out", type=Path, help="BIDS root to create (default: the profile's bids_root)")
    parser.add_argument("--seed", type=arguments.seed, help="override the cohort's seed (>= 0)")
    parser.add_argument("--jobs", "--n-jobs", dest="n_jobs", type=arguments.jobs, metavar="N",
                        help="subjects generated in parallel processes (>= 1; default: the profile's n_jobs); "
                             "workers die with the command")
    parser.add_argument("--checksums", choices=("verify", "write", "skip"), default="verify",
                        help="compare the files with data_manifest/checksums/<cohort>.sha256 (verify, the "
                             "default, only warns), rewrite that manifest (write), or do neither (skip)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sclesion.core.atomic import write_text
    from sclesion.core.paths import manifest_dir
    from sclesion.core.profile import Profile
    from sclesion.core.workers import check_jobs
    from sclesion.data.synthetic import checksum_manifest, compare_checksums, generate_cohort, load_spec

    profile = Profile.load(args.profile)
    n_jobs = check_jobs(profile.n_jobs, "the profile's n_jobs") if args.n_jobs is None else args.n_jobs
    spec = load_spec(args.spec if args.spec else args.profile, seed=args.seed)
    out = args.out if args.out else profile.bids_root
    start = time.perf_counter()
    result = generate_cohort(spec, out, n_jobs=n_jobs, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    verb = "generated" if result.generated else "up to date (same spec hash; nothing written):"
    print(f"synthetic cohort '{spec['name']}' {verb} {result.root} [spec {result.spec_hash}, {elapsed:.1f} s]")
    manifest = manifest_dir() / "checksums" / f"{spec['name']}.sha256"
    if args.checksums == "write":
        write_text(checksum_manifest(result.root), manifest)
        print(f"wrote {manifest}")
    elif args.checksums == "verify" and manifest.is_file():
        problems = compare_checksums(result.root, manifest)
        if problems:
            print(f"warning: {len(problems)} file(s) differ from {manifest} (first: {problems[0]}); "
                  "a different seed, spec, generator version or zlib build changes the bytes")
        else:
            print(f"all files match {manifest}")
    return 0
