"""The ``sclesion`` command: one entry point, one subcommand per step of the study.

Each subcommand lives in ``sclesion.cli.<module>`` and defines ``add_arguments(parser)``, ``run(args) -> int``,
and its help: ``DESCRIPTION`` (what it reads and writes) and ``EPILOG`` (an example and the rerun rule). Only
the chosen subcommand is imported, so ``sclesion --help`` stays fast.

Bad input raises :class:`sclesion.core.errors.InputError`, an out-of-range option is refused by its argparse
type (:mod:`sclesion.cli.arguments`); both end the command with one line on stderr and exit status 2, as
does a file system error (a folder that cannot be written, a full disk). An interruption (Ctrl-C) exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from sclesion.core.errors import InputError

#: subcommand -> (module under sclesion.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "generate the synthetic multi-site whole-spine cohort as BIDS"),
    "check": ("check", "discover a BIDS dataset and validate every image/label pair"),
    "split": ("split", "write the patient-wise train/test split of a BIDS dataset"),
    "stitch": ("stitch", "stitch chunks into one whole-spine image or mask"),
    "straighten": ("straighten", "straighten the cord of an image; write both warping fields"),
    "apply-warp": ("apply_warp", "apply a warping field to an image or mask"),
    "variants": ("variants", "build the dataset variants: stitched native, chunks and stitched straightened"),
    "convert": ("convert", "convert the dataset variants to nnU-Net raw datasets with region labels"),
    "plan": ("plan", "nnU-Net fingerprint, plans and preprocessing; the plans beside the paper's Table A1"),
    "train": ("train", "train the profile's nnU-Net grid, locally or as a SLURM job array"),
    "predict": ("predict", "segment cord and lesions with a trained model, in the input's own grid"),
    "segment": ("segment", "segment your own scans: masks, lesion table and QC page, with any nnU-Net model"),
    "lesions": ("lesions", "per-lesion volume, length, diameter, damage ratio and centroid of a pair of masks"),
    "evaluate": ("evaluate", "compute the study's metrics for predictions against references"),
    "book": ("book", "execute the notebooks on a profile and build the book"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="sclesion",
        description="Spinal cord and MS lesion segmentation on whole-spine T2w MRI: the study's pipeline.",
        epilog=f"subcommands:\n{lines}\n\nRun 'sclesion SUBCOMMAND --help' for its options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``sclesion`` command line; return the exit status."""
    # Idle OpenMP threads sleep instead of spinning. On a machine whose cores other jobs keep busy, torch's
    # spinning threads made prediction 25 times slower (2 threads on 2 shared cores: 26 s instead of 1.1 s per
    # demo chunk). OpenMP reads this once, when torch loads it: set before any subcommand imports torch, kept
    # when the user sets it, inherited by the processes a command starts (notebook kernels, nnU-Net workers).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from sclesion import __version__

        print(__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        top.error(f"unknown subcommand {name!r}; choose from {', '.join(COMMANDS)}")
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(f"sclesion.cli.{module_name}")
    parser = argparse.ArgumentParser(
        prog=f"sclesion {name}",
        description=getattr(module, "DESCRIPTION", help_),
        epilog=getattr(module, "EPILOG", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except InputError as err:
        print(f"sclesion {name}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system refused (permissions, full disk, a file where a folder should be)
        where = f"{err.filename}: " if err.filename else ""
        print(f"sclesion {name}: error: {where}{err.strerror or type(err).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sclesion {name}: interrupted; finished outputs are kept, a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
