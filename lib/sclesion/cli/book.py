"""``sclesion book``: execute the notebooks on a profile and build the book."""

from __future__ import annotations

import argparse
import sys

import yaml


DESCRIPTION = """\
Execute the notebooks on a profile with papermill and build the book with Jupyter Book.

reads:   profiles/<profile>.yml (or a YAML path), notebooks/*.ipynb, _toc.yml, _config.yml
writes:  _build/executed/<profile>/*.ipynb and, unless --no-render or --only, _build/html/"""

EPILOG = """\
example:
  sclesion book --profile demo

rerun:   every listed notebook is executed again; a failing notebook names itself and keeps a failed copy."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="demo", help="demo, smoke, paper, or a path to a profile YAML")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a profile parameter (VALUE is read as YAML), e.g. -p bids_root /data")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="execute only notebooks whose name contains NAME (repeatable); no rendering")
    parser.add_argument("--no-render", action="store_true", help="execute the notebooks, skip jupyter-book")


def run(args: argparse.Namespace) -> int:
    """Build the book; a failed notebook or render is one line on stderr and exit status 1."""
    from sclesion.book import build
    from sclesion.core.errors import BookError

    overrides = {name: yaml.safe_load(value) for name, value in args.parameter}
    try:
        result = build(args.profile, overrides=overrides, only=args.only, render=not args.no_render)
    except BookError as err:
        first, *rest = str(err).splitlines()
        print(f"sclesion book: failed: {first}", file=sys.stderr)
        if rest:  # the renderer's log tail, below the one line that says what failed
            print("\n".join(rest), file=sys.stderr)
        return 1
    print(f"done: {result}")
    return 0
