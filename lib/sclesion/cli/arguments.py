"""Option types shared by every subcommand: numbers are checked by argparse, before any work is done.

A value out of range ends the command with argparse's one-line usage error (exit status 2) naming the
option, e.g. ``argument --fov-mm: must be a number > 0 and <= 100 mm, got 'nan'``. The same option has the
same rule in every subcommand (``--jobs``, ``--seed``, ``--threshold`` ...).
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

#: Most worker processes one command may start.
MAX_JOBS: int = 512


def number(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False,
           unit: str = "") -> Callable[[str], float]:
    """An argparse type: a finite float within ``[low, high]`` (bounds excluded with ``low_open``, ``high_open``)."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    rule = "must be a finite number" + (" " + " and ".join(bounds) if bounds else "") + (f" {unit}" if unit else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) or (
                high is not None and (value >= high if high_open else value > high)):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value

    return parse


def whole(low: int = 0, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer within ``[low, high]``."""
    rule = f"must be a whole number >= {low}" + (f" and <= {high}" if high is not None else "")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value

    return parse


#: ``--jobs``: worker processes.
jobs = whole(1, MAX_JOBS)
#: ``--seed``: a non-negative integer (numpy's generators refuse negative seeds).
seed = whole(0, 2**63 - 1)


def fov_mm(text: str) -> float:
    """``--fov-mm``: half width of the straight field of view, > 0 and at most
    :data:`sclesion.preprocessing.straightening.straighten.MAX_FOV_MM`."""
    from sclesion.preprocessing.straightening.straighten import MAX_FOV_MM

    return number(0.0, MAX_FOV_MM, low_open=True, unit="mm")(text)


#: a binarization threshold of warped masks: strictly between 0 and 1.
mask_threshold = number(0.0, 1.0, low_open=True, high_open=True)
#: a threshold on warped values of any kind.
any_threshold = number()
#: a tolerance or distance in mm, > 0.
positive_mm = number(0.0, low_open=True, unit="mm")
#: a tolerance in mm, >= 0.
tolerance_mm = number(0.0, unit="mm")
#: a fraction in [0, 1].
fraction = number(0.0, 1.0)


def add_jobs(parser: argparse.ArgumentParser, default: int | None = 1, what: str = "worker processes") -> None:
    """Add ``--jobs N`` (>= 1) with the same rule in every subcommand."""
    shown = f"default {default}" if default is not None else "default: the profile's n_jobs"
    parser.add_argument("--jobs", type=jobs, default=default, metavar="N",
                        help=f"{what} (>= 1; {shown}); workers die with the command")
