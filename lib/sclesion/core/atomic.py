"""Write files atomically, never over an input, and clean what an interrupted writer left behind.

Every output is written under a temporary name beside the target, then renamed: a crash or an interruption
never leaves a half-written output under the final name. Temporaries are hidden and say who wrote them,
``.<target name>.sclesion-<host>-<pid>.<random>.part<extension>``, so that :func:`clean_stale_temporaries`
removes those of writers that are gone (a SIGKILL gives a writer no chance to clean up) and never those of
a writer still running.

:func:`refuse_inputs` is the one check that no command writes over one of its inputs, with or without
``--force``; :func:`prepare_folder` turns an output folder that cannot be created or written into one clear
line before any work is done.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from sclesion.core.errors import InputError

#: Marker in the name of every temporary this library writes.
TEMPORARY_TAG = "sclesion"

#: Temporaries written on another host are removed once they are this old (s): their writer cannot be asked.
FOREIGN_TEMPORARY_AGE_S = 24 * 3600.0

_TEMPORARY = re.compile(rf"^\..+\.{TEMPORARY_TAG}-(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)\.[^.]+\.part(\.[^/]*)?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def temporary_prefix(target: Path) -> str:
    """The start of the names of this process's temporaries for ``target``."""
    return f".{target.name}.{TEMPORARY_TAG}-{_host()}-{os.getpid()}."


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``target`` if the block succeeds.

    The temporary name keeps the target's full suffix (e.g. ``.nii.gz``) so writers that infer the format
    from the name work unchanged.

    Raises
    ------
    InputError
        If the folder cannot be created or written (naming it), or the target is a folder.
    """
    target = Path(target)
    if target.is_dir():
        raise InputError("is a folder; expected a file name for the output", target)
    prepare_folder(target.parent)
    suffix = "".join(target.suffixes)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), suffix=f".part{suffix}", dir=target.parent)
    except OSError as err:
        raise InputError(f"cannot write into this folder ({_reason(err)})", target.parent) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as err:
        tmp_path.unlink(missing_ok=True)
        raise InputError(f"cannot write ({_reason(err)})", target) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def prepare_folder(folder: str | Path) -> Path:
    """Create an output folder (and its parents) or raise one :class:`InputError` saying why it cannot be.

    Also refuses a folder this process may not write into.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise InputError(f"is a file, so the output folder {folder} cannot be created", blocker) from None
        raise InputError(f"cannot create the output folder ({_reason(err)})", folder) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError("cannot write into this folder (permission denied)", folder)
    return folder


def refuse_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Raise :class:`InputError` if an output path is one of the input files (same file, any path to it).

    Compares resolved paths and, for files that exist, device and inode (hard links, bind mounts).
    """
    inputs = [Path(p) for p in inputs if p is not None]
    resolved = {p.resolve() for p in inputs}
    for output in outputs:
        output = Path(output)
        clash = output.resolve() in resolved
        if not clash and output.exists():
            clash = any(p.exists() and os.path.samefile(p, output) for p in inputs)
        if clash:
            raise InputError("is an input of this command; refusing to write over it (choose another output)", output)


def clean_stale_temporaries(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove the temporaries (files and folders) that writers now gone left in ``folder``.

    A temporary of this host is stale when its writer's process no longer runs; one of another host when
    it is older than :data:`FOREIGN_TEMPORARY_AGE_S`. Nothing else is touched.

    Returns
    -------
    list of Path
        What was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob(".*") if recursive else folder.glob(".*")
    removed = []
    host, now = _host(), time.time()
    for path in list(candidates):
        match = _TEMPORARY.match(path.name)
        if match is None:
            continue
        if match["host"] == host:
            stale = not _running(int(match["pid"]))
        else:
            stale = now - path.lstat().st_mtime > FOREIGN_TEMPORARY_AGE_S
        if stale:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def temporary_folder(target: Path) -> Path:
    """A new hidden folder beside ``target`` named like a temporary (see :func:`clean_stale_temporaries`)."""
    prepare_folder(target.parent)
    return Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".part", dir=target.parent))


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) no longer writes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_nifti(img, target: str | Path) -> Path:
    """Save a nibabel image atomically to ``target`` and return the path."""
    import nibabel as nib

    with atomic_path(target) as tmp:
        nib.save(img, tmp)
    return Path(target)


def write_text(text: str, target: str | Path) -> Path:
    """Write ``text`` atomically to ``target`` and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)
