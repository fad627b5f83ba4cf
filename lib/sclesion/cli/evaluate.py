"""``sclesion evaluate --pred DIR --ref DIR -o metrics.csv``: the study's metrics for a folder of predictions.

Pairs prediction files with reference labels by BIDS entities (see :mod:`sclesion.evaluation.evaluate` for the file
conventions), computes the metrics per image and label (or per session with ``--stack-chunks``), and writes:

- ``metrics.csv``: one row per image (or stacked session) and label, with the paper's metric names;
- ``metrics_summary.csv``: mean and SD per label and metric (also printed, like the paper's Table 2);
- ``metrics_detections.csv``: one row per reference lesion of every chunk, detected or not (ANIMA's rule),
  when lesions are evaluated.

Refused files (no partner, shape or affine mismatch, unreadable) are reported on stderr, one line each, and
the rest is evaluated; the exit status is then 1. An existing ``metrics.csv`` means the work is done: the
command does nothing unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sclesion.core.atomic import write_text
from sclesion.core.errors import InputError
from sclesion.evaluation.evaluate import LABELS, evaluate, format_summary, summarize
from sclesion.evaluation.metrics import metrics_reloaded_available


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, type=Path,
                        help="folder of predictions: <image stem>.nii.gz region label maps (1 cord, 2 lesion) or "
                             "<image stem>_seg-*.nii.gz / _lesion-*.nii.gz masks")  # fmt: skip
    parser.add_argument("--ref", required=True, type=Path,
                        help="reference BIDS dataset (labels in derivatives/labels) or labels folder "
                             "(*_seg-manual / *_lesion-manual .nii.gz)")  # fmt: skip
    parser.add_argument("-o", "--output", required=True, type=Path, help="metrics CSV to write")
    parser.add_argument("--stack-chunks", action="store_true",
                        help="stack the chunks of each session before computing metrics (Algorithm 1)")  # fmt: skip
    parser.add_argument("--labels", default=",".join(LABELS),
                        help=f"comma-separated labels to evaluate, among {', '.join(LABELS)} (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--nsd-tau-mm", type=float, default=None,
                        help="NSD tolerance in mm (default: 1 voxel, as the paper ran MetricsReloaded)")  # fmt: skip
    parser.add_argument("--cross-check", action="store_true",
                        help="also compute every metric with MetricsReloaded (if installed; slow) and report "
                             "disagreements")  # fmt: skip
    parser.add_argument("--force", action="store_true", help="recompute even if the output exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def output_paths(output: Path) -> dict[str, Path]:
    """The files written beside the metrics CSV: ``summary`` and ``detections``."""
    stem = output.name[: -len(".csv")] if output.name.endswith(".csv") else output.name
    return {
        "summary": output.with_name(f"{stem}_summary.csv"),
        "detections": output.with_name(f"{stem}_detections.csv"),
    }


def run(args: argparse.Namespace) -> int:
    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; nothing to do (use --force to recompute)")
        return 0
    if args.cross_check and not metrics_reloaded_available():
        raise InputError(
            "--cross-check needs MetricsReloaded: pip install git+https://github.com/ivadomed/MetricsReloaded"
        )
    result = evaluate(
        args.pred,
        args.ref,
        labels=labels,
        stack_chunks=args.stack_chunks,
        jobs=args.jobs,
        nsd_tau_mm=args.nsd_tau_mm,
        cross_check=args.cross_check,
        progress=not args.quiet,
    )
    for line in result.problems + result.disagreements:
        print(line, file=sys.stderr)
    if result.metrics.empty:
        raise InputError("no prediction could be evaluated (see the lines above)", args.pred)
    extra = output_paths(args.output)
    summary = summarize(result.metrics)
    write_text(summary.to_csv(index=False), extra["summary"])
    if not result.lesions.empty:
        write_text(result.lesions.to_csv(index=False), extra["detections"])
    write_text(result.metrics.to_csv(index=False), args.output)  # last: its existence means "done"
    unit = "session(s), chunks stacked" if args.stack_chunks else "image(s)"
    n_cases = len(result.metrics.drop_duplicates(["participant_id", "session", "acq", "chunk"]))
    tau = "1 voxel" if args.nsd_tau_mm is None else f"{args.nsd_tau_mm:g} mm"
    print(f"evaluated {n_cases} {unit}; NSD tolerance {tau}")
    print(format_summary(summary))
    if result.skipped_references:
        print(f"{result.skipped_references} reference images of subjects/sessions without predictions were skipped")
    written = [str(args.output), extra["summary"].name] + ([] if result.lesions.empty else [extra["detections"].name])
    print(f"wrote {', '.join(written)}")
    refused = len(result.problems) + len(result.disagreements)
    if refused:
        print(f"{refused} problem(s) reported on stderr", file=sys.stderr)
    return 1 if refused else 0
