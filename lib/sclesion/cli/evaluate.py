"""``sclesion evaluate --pred DIR --ref DIR -o metrics.csv``: the study's metrics for a folder of predictions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sclesion.cli import arguments
from sclesion.core.errors import InputError
from sclesion.evaluation.evaluate import LABELS, PRED_KINDS

DESCRIPTION = """\
Score a folder of predictions against reference labels with the study's metrics (MetricsReloaded's
definitions), per image or, with --stack-chunks, per session (paper Algorithm 1).

reads:   --pred DIR (recursively): region label maps <image stem>.nii[.gz] (0 background, 1 cord, 2 lesion)
         or binary masks <image stem>_seg-<x>.nii[.gz] (cord) / <image stem>_lesion-<x>.nii[.gz] (lesions);
         any other name (e.g. <stem>_pred.nii.gz) is refused unless --pred-kind says what it holds.
         --ref DIR: a BIDS dataset (its derivatives/labels) or a labels folder of *_seg-manual /
         *_lesion-manual files. Predictions pair with references by subject, session, acq and chunk.
writes:  OUT (one row per image or session and label), OUT's stem + _summary.csv (mean and SD per label and
         metric, also printed) and, when lesions are evaluated, + _detections.csv (one row per reference
         lesion, detected or not); a hidden .<name>.provenance.json beside each"""

EPILOG = """\
example:
  sclesion evaluate --pred predictions/ --ref _data/demo/bids -o metrics.csv --jobs 2

exit status: 0 when every file was evaluated; 1 when some files or cases were refused (one line each on
         stderr: unreadable, empty or truncated, not binary, off the grid, no partner) and the rest was
         evaluated and written; 2 when nothing could be evaluated or an option is bad.
rerun:   skipped when the records of the outputs match every prediction and reference file and the options;
         recomputed when any of them changed; --force recomputes anyway. An existing OUT without a record
         (not written by this command) is replaced only with --force. No output is ever one of the inputs."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, type=Path,
                        help="folder of predictions: <image stem>.nii.gz region label maps (1 cord, 2 lesion) or "
                             "<image stem>_seg-*.nii.gz / _lesion-*.nii.gz masks")  # fmt: skip
    parser.add_argument("--ref", required=True, type=Path,
                        help="reference BIDS dataset (labels in derivatives/labels) or labels folder "
                             "(*_seg-manual / *_lesion-manual .nii.gz)")  # fmt: skip
    parser.add_argument("-o", "--output", required=True, type=Path, help="metrics CSV to write")
    parser.add_argument("--pred-kind", choices=PRED_KINDS, default="auto",
                        help="what prediction files without a seg-/lesion- entity hold: 'auto' (the default) "
                             "reads <image stem>.nii.gz as a label map and refuses other names; 'labels', "
                             "'lesion' or 'cord' declares them")  # fmt: skip
    parser.add_argument("--stack-chunks", action="store_true",
                        help="stack the chunks of each session before computing metrics (Algorithm 1)")  # fmt: skip
    parser.add_argument("--labels", default=",".join(LABELS),
                        help=f"comma-separated labels to evaluate, among {', '.join(LABELS)} (default: all)")
    arguments.add_jobs(parser)
    parser.add_argument("--nsd-tau-mm", type=arguments.positive_mm, default=None,
                        help="NSD tolerance in mm, > 0 (default: 1 voxel, as the paper ran "
                             "MetricsReloaded)")  # fmt: skip
    parser.add_argument("--cross-check", action="store_true",
                        help="also compute every metric with MetricsReloaded (if installed; slow) and report "
                             "disagreements")  # fmt: skip
    parser.add_argument("--force", action="store_true", help="recompute even if the outputs are up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def output_paths(output: Path) -> dict[str, Path]:
    """The files written beside the metrics CSV: ``summary`` and ``detections``."""
    stem = output.name[: -len(".csv")] if output.name.endswith(".csv") else output.name
    return {
        "summary": output.with_name(f"{stem}_summary.csv"),
        "detections": output.with_name(f"{stem}_detections.csv"),
    }


def run(args: argparse.Namespace) -> int:
    from sclesion.core.atomic import write_text
    from sclesion.core.provenance import OutputSet, read_record, remove_with_record
    from sclesion.evaluation.detection import LESION_COLUMNS
    from sclesion.evaluation.evaluate import KEY_COLUMNS, evaluate, format_summary, input_files, summarize
    from sclesion.evaluation.metrics import metrics_reloaded_available

    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    unknown = [label for label in labels if label not in LABELS]
    if unknown or not labels:
        raise InputError(f"--labels must be among {', '.join(LABELS)}, got {args.labels!r}")
    extra = output_paths(args.output)
    targets = [args.output, extra["summary"]] + ([extra["detections"]] if "lesion" in labels else [])
    outputs = OutputSet("evaluate", targets, {str(p): p for p in input_files(args.pred, args.ref)},
                        {"labels": labels, "stack_chunks": args.stack_chunks, "nsd_tau_mm": args.nsd_tau_mm,
                         "cross_check": args.cross_check, "pred_kind": args.pred_kind})
    status = outputs.status()
    if status == "current" and not args.force:
        print(f"{args.output}: up to date (same predictions, references and options); nothing to do "
              "(use --force to recompute)")
        return 0
    foreign = [p for p in targets if p.exists() and read_record(p) is None]
    if foreign and not args.force:
        raise InputError("exists and was not written by 'sclesion evaluate' (no provenance record); use --force to "
                         "replace it, or choose another -o", foreign[0])
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
        pred_kind=args.pred_kind,
    )
    for line in result.problems + result.disagreements:
        print(line, file=sys.stderr)
    if result.metrics.empty:
        raise InputError("no prediction could be evaluated (see the lines above)", args.pred)
    summary = summarize(result.metrics)
    lesions = result.lesions if not result.lesions.empty else _empty_table(list(KEY_COLUMNS) + list(LESION_COLUMNS))
    if "lesion" not in labels and read_record(extra["detections"]) is not None:
        remove_with_record(extra["detections"])  # from an earlier run that evaluated lesions
    with outputs.writing():
        write_text(summary.to_csv(index=False), extra["summary"])
        if "lesion" in labels:
            write_text(lesions.to_csv(index=False), extra["detections"])
        write_text(result.metrics.to_csv(index=False), args.output)
    unit = "session(s), chunks stacked" if args.stack_chunks else "image(s)"
    n_cases = len(result.metrics.drop_duplicates(["participant_id", "session", "acq", "chunk"]))
    tau = "1 voxel" if args.nsd_tau_mm is None else f"{args.nsd_tau_mm:g} mm"
    print(f"evaluated {n_cases} {unit}; NSD tolerance {tau}")
    print(format_summary(summary))
    if result.skipped_references:
        print(f"{result.skipped_references} reference images of subjects/sessions without predictions were skipped")
    print(f"wrote {', '.join([str(args.output)] + [p.name for p in targets[1:]])}")
    refused = len(result.problems) + len(result.disagreements)
    if refused:
        print(f"{refused} file(s) or case(s) refused, one line each on stderr; exit status 1")
    return 1 if refused else 0


def _empty_table(columns: list[str]):
    """An empty table with these columns (the detections of a run where no lesion was evaluated)."""
    import pandas as pd

    return pd.DataFrame(columns=columns)
