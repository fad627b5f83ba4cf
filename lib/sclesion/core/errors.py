"""The one exception type users see for bad input."""

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
