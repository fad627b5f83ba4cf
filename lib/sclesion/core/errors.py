"""The exception types users see: bad input (InputError) and a failed book build (BookError)."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input: names the offending file (when there is one) and the problem in one line.

    Parameters
    ----------
    problem : str
        What is wrong, in words a user can act on.
    path : str or Path, optional
        The file or folder the problem is in.
    """

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class BookError(RuntimeError):
    """A notebook of the book failed (raised, timed out, lost its kernel, printed a warning) or the book did not
    render; names the notebook (and the cell) and where the partly executed copy was kept."""
