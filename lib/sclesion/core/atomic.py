"""Write files atomically: write to a temporary name beside the target, then rename.

A crash or an interruption therefore never leaves a half-written output under the final name, and a rerun
that finds the final name can trust it is complete.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``target`` if the block succeeds.

    The temporary name keeps the target's full suffix (e.g. ``.nii.gz``) so writers that infer the format
    from the name work unchanged.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


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
