"""Helpers of the hostile-input tests: run a subcommand in this process, check its one-line refusal, fingerprint
inputs, and small phantoms written with nibabel."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sclesion.cli.main import main


@dataclass
class Result:
    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """``cli(*args)``: run ``sclesion args`` in this process; argparse refusals (SystemExit) become a status."""

    def run(*args) -> Result:
        capsys.readouterr()
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run


def refused(result: Result, *needles: str) -> str:
    """Assert a refusal: exit status != 0, exactly one stderr line (argparse's usage line aside), no traceback,
    holding every needle. Returns the line."""
    assert result.status != 0, result.out
    assert "Traceback" not in result.err
    lines = [line for line in result.err.strip().splitlines() if line and not line.startswith("usage:")
             and not line.startswith(" ")]
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digests(*paths: Path) -> dict[Path, str]:
    """sha256 of every file under the given files or folders (hidden files included)."""
    out = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            out[file] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def save(path: Path, data, affine=None) -> Path:
    """Write an array as NIfTI (float64 arrays as float32)."""
    data = np.asarray(data)
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to a share of its bytes (a transfer interrupted half way)."""
    raw = path.read_bytes()
    path.write_bytes(raw[: max(1, int(len(raw) * keep))])
    return path


def header_fragment(path: Path) -> Path:
    """Replace a .nii.gz file by a gzip of its first 200 bytes (a header cut short)."""
    raw = gzip.decompress(path.read_bytes())[:200]
    path.write_bytes(gzip.compress(raw))
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_and_check_workers(command: list[str], env: dict, min_children: int = 2, wait_s: float = 60.0) -> None:
    """Start ``command``, wait until it has ``min_children`` workers, SIGKILL it; its workers must be gone
    within 5 s and its pipes must reach end-of-file (what ``| tee`` waits for)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + wait_s
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = children_of(proc.pid)
            if len(workers) >= min_children:
                break
            time.sleep(0.05)
        assert len(workers) >= min_children, f"no workers started: {proc.poll()}"
        os.kill(proc.pid, 9)
        proc.communicate(timeout=10)  # end-of-file on both pipes: no worker holds them any more
        gone_by = time.monotonic() + 5
        while time.monotonic() < gone_by and any(alive(w) for w in workers):
            time.sleep(0.05)
        assert not [w for w in workers if alive(w)], "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def subprocess_env() -> dict:
    """The environment for ``python -m sclesion`` subprocesses: this checkout's library first."""
    import sclesion

    lib = str(Path(sclesion.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": lib + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
def h():
    """The helpers above, for the test modules (``--import-mode=importlib`` cannot import this file)."""
    from types import SimpleNamespace

    return SimpleNamespace(refused=refused, digests=digests, save=save, truncate=truncate,
                           header_fragment=header_fragment, dead_pid=dead_pid, children_of=children_of,
                           kill_and_check_workers=kill_and_check_workers, env=subprocess_env)


@pytest.fixture(scope="module")
def tube(tmp_path_factory):
    """A small straight tube tilted 20 degrees (image, binary cord mask, lesion mask) as .nii.gz files."""
    from sclesion.data.phantoms import render_phantom

    angle = np.radians(20.0)
    t = np.arange(0.0, 110.0, 0.1)
    curve = np.array([0.0, -25.0, -55.0]) + t[:, None] * np.array([0, np.sin(angle), np.cos(angle)])
    phantom = render_phantom((32, 40, 24), (1.0, 1.0, 2.0), curve, radii_mm=(4.0, 3.0))
    folder = tmp_path_factory.mktemp("tube")
    image = folder / "sub-x_T2w.nii.gz"
    nib.save(phantom.image, image)
    cord = np.asanyarray(phantom.cord.dataobj).astype(np.uint8)
    lesion = np.zeros_like(cord)
    k = np.argwhere(cord)[len(np.argwhere(cord)) // 2]
    lesion[k[0] - 1 : k[0] + 1, k[1] - 1 : k[1] + 1, k[2] - 1 : k[2] + 1] = 1
    lesion &= cord
    return {"image": image, "affine": phantom.image.affine, "data": np.asanyarray(phantom.image.dataobj),
            "cord": save(folder / "sub-x_T2w_seg-manual.nii.gz", cord, phantom.image.affine),
            "lesion": save(folder / "sub-x_T2w_lesion-manual.nii.gz", lesion, phantom.image.affine),
            "cord_data": cord, "lesion_data": lesion}


@pytest.fixture
def tiny_bids(tmp_path):
    """A tiny BIDS dataset: TUM subjects tum001-tum005 and ucsf001, one session of two 6x6x4 chunks, labelled."""
    root = tmp_path / "bids"
    rows = []
    for subject, site in [(f"tum{i:03d}", "TUM") for i in range(1, 6)] + [("ucsf001", "UCSF")]:
        rows.append(f"sub-{subject}\t{site}")
        for chunk in (1, 2):
            stem = f"sub-{subject}_ses-1_acq-ax_chunk-{chunk}_T2w"
            affine = np.eye(4)
            affine[2, 3] = 3.0 * chunk
            save(root / f"sub-{subject}" / "ses-1" / "anat" / f"{stem}.nii.gz", np.ones((6, 6, 4), np.float32), affine)
            labels = root / "derivatives" / "labels" / f"sub-{subject}" / "ses-1" / "anat"
            save(labels / f"{stem}_seg-manual.nii.gz", np.ones((6, 6, 4), np.uint8), affine)
            save(labels / f"{stem}_lesion-manual.nii.gz", np.zeros((6, 6, 4), np.uint8), affine)
    (root / "participants.tsv").write_text("participant_id\tsite\n" + "\n".join(rows) + "\n")
    return root
