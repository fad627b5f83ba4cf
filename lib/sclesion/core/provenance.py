"""What made each output: a record beside it, so a rerun skips only work whose inputs and parameters are unchanged.

Beside every output ``<name>`` lies a hidden JSON record ``.<name>.provenance.json`` holding the command,
the sha256 of every input file, the parameters, and the sha256 of every output of the same set (the outputs
one unit of work writes together, e.g. a straightened image and its two warping fields). A set of outputs is
**up to date** when every output exists, every record is the expected one, and every output still has the
checksum recorded: then the work is skipped. Otherwise it is done again, and all its outputs are rewritten.

Writing a set first removes the records of all its outputs, then writes the outputs (atomically), then the
records: an interruption at any point leaves a set without complete records, which the next run recomputes
as a whole. A 21 x 21 image beside 71 x 71 fields from an older run cannot pass as one result.

Usage::

    outputs = OutputSet("straighten", [image_out, field_out], inputs={"image": image, "cord": cord},
                        parameters={"fov_mm": 35.0})
    if outputs.up_to_date():
        ...  # skipped
    else:
        with outputs.writing():
            save_nifti(..., image_out)
            save_nifti(..., field_out)
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from sclesion.core.atomic import clean_stale_temporaries, prepare_folder, refuse_inputs, write_text
from sclesion.core.errors import InputError

#: Version of the record layout; a record of another version never matches.
RECORD_VERSION = 1

_HASH_CACHE: dict[tuple[str, int, int, int], str] = {}


def record_path(output: str | Path) -> Path:
    """The hidden record beside an output: ``.<name>.provenance.json``."""
    output = Path(output)
    return output.with_name(f".{output.name}.provenance.json")


def sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (cached per path, size, inode and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or type(err).__name__})", path) from None
    key = (str(path.resolve()), stat.st_size, stat.st_ino, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as err:
            raise InputError(f"cannot read ({err.strerror or type(err).__name__})", path) from None
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


class OutputSet:
    """The outputs one unit of work writes together, and what they are made from.

    Parameters
    ----------
    command : str
        What makes them, e.g. ``"straighten"`` (part of the record).
    outputs : list of str or Path
        Every output file of the unit.
    inputs : mapping of str to path, or list of paths
        The input files (their sha256 goes into the record); a mapping names their roles.
    parameters : mapping
        Everything else that changes the outputs (JSON-serializable values).

    Raises
    ------
    InputError
        If an output is one of the inputs, or an output folder cannot be created or written.
    """

    def __init__(self, command: str, outputs, inputs, parameters: Mapping | None = None):
        self.command = command
        self.outputs = [Path(p) for p in outputs]
        if isinstance(inputs, Mapping):
            self.inputs = {str(k): Path(v) for k, v in inputs.items() if v is not None}
        else:
            self.inputs = {str(k): Path(v) for k, v in enumerate(inputs) if v is not None}
        self.parameters = json.loads(json.dumps(dict(parameters or {}), sort_keys=True, default=str))
        refuse_inputs(self.outputs + [record_path(p) for p in self.outputs], self.inputs.values())
        for folder in sorted({p.parent for p in self.outputs}):
            prepare_folder(folder)
            clean_stale_temporaries(folder)

    def expected(self) -> dict:
        """The record every output of the set must carry (without the output checksums)."""
        return {
            "version": RECORD_VERSION,
            "command": self.command,
            "inputs": {role: sha256(path) for role, path in self.inputs.items()},
            "parameters": self.parameters,
            "outputs": sorted(p.name for p in self.outputs),
        }

    def up_to_date(self) -> bool:
        """True when every output exists with a record that matches the inputs, parameters and its checksum."""
        if not all(p.is_file() for p in self.outputs):
            return False
        expected = self.expected()
        for output in self.outputs:
            record = read_record(output)
            if record is None or {k: record.get(k) for k in expected} != expected:
                return False
            if record.get("output_sha256") != sha256(output):
                return False
        return True

    def status(self) -> str:
        """``"missing"`` (no output yet), ``"current"`` (up to date) or ``"stale"`` (to be rewritten)."""
        if not any(p.exists() for p in self.outputs):
            return "missing"
        return "current" if self.up_to_date() else "stale"

    def invalidate(self) -> None:
        """Remove the records of every output (the set will be recomputed)."""
        for output in self.outputs:
            record_path(output).unlink(missing_ok=True)

    @contextmanager
    def writing(self) -> Iterator["OutputSet"]:
        """Invalidate, let the block write every output, then record them; an error leaves no record."""
        expected = self.expected()
        self.invalidate()
        yield self
        missing = [p for p in self.outputs if not p.is_file()]
        if missing:
            raise AssertionError(f"{self.command} did not write {missing[0]}")
        for output in self.outputs:
            write_text(json.dumps({**expected, "output_sha256": sha256(output)}, indent=1) + "\n",
                       record_path(output))


def read_record(output: str | Path) -> dict | None:
    """The record beside an output, or None when there is none (or it cannot be read)."""
    path = record_path(output)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def remove_with_record(output: str | Path) -> None:
    """Remove an output and its record (e.g. an output a rerun no longer produces)."""
    output = Path(output)
    record_path(output).unlink(missing_ok=True)
    if output.is_file() or output.is_symlink():
        os.unlink(output)
