"""nnU-Net's environment variables, and running an nnU-Net step in a fresh Python process.

nnU-Net reads its three folders (``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``) from the
environment once, when ``nnunetv2.paths`` is first imported, and its worker counts (``nnUNet_def_n_proc``,
``nnUNet_n_proc_DA``) likewise. A process that has imported nnU-Net therefore cannot switch to another
``work_dir``. So every planning and training step runs in its own Python process (:func:`run_step`) whose
environment is built from ``work_dir`` and the profile (:func:`nnunet_environ`); the calling process (a
notebook, the test suite, a submitit job) never imports nnU-Net's training code and can run any number of
steps on any number of work folders. The child's output goes to a log file, not to the caller's console.

Worker counts on small machines: nnU-Net's pools start processes with ``spawn``, each re-importing torch
(seconds per process), so on a 2-core machine one worker per pool (``nnUNet_def_n_proc=1``) and data
augmentation in the training process itself (``nnUNet_n_proc_DA=0``) are fastest. The planner calls
``torch.set_num_threads(nnUNet_n_proc_DA)``, which fails for 0, so planning steps get at least 1.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from sclesion.core.workers import die_with_parent
from sclesion.nnunet.datasets import NnunetFolders

#: Lines of a failed step's log quoted in the error.
LOG_TAIL_LINES = 25

_CHILD = (
    "import importlib, json, sys\n"
    "module, function = sys.argv[1].split(':')\n"
    "getattr(importlib.import_module(module), function)(**json.loads(sys.argv[2]))\n"
)


class NnunetStepError(RuntimeError):
    """An nnU-Net step (planning, preprocessing, training) failed; the message quotes its log."""


def nnunet_environ(work_dir: str | Path, threads: int = 1, n_proc: int = 1, n_proc_da: int = 0) -> dict[str, str]:
    """Environment variables for nnU-Net working in ``<work_dir>/nnunet``.

    Parameters
    ----------
    work_dir : str or Path
        The work folder; nnU-Net's folders are :class:`~sclesion.nnunet.datasets.NnunetFolders` of it.
    threads : int, default 1
        Threads of torch and of the numerical libraries (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``).
    n_proc : int, default 1
        nnU-Net's default worker count (``nnUNet_def_n_proc``: export pools, unpacking).
    n_proc_da : int, default 0
        Data augmentation workers per training process (``nnUNet_n_proc_DA``; 0 = in the training process).

    Returns
    -------
    dict of str to str
        Only the variables to set; merge them into ``os.environ`` for a child process.
    """
    folders = NnunetFolders(Path(work_dir))
    return {
        "nnUNet_raw": str(folders.raw.resolve()),
        "nnUNet_preprocessed": str(folders.preprocessed.resolve()),
        "nnUNet_results": str(folders.results.resolve()),
        "nnUNet_def_n_proc": str(int(n_proc)),
        "nnUNet_n_proc_DA": str(int(n_proc_da)),
        "OMP_NUM_THREADS": str(int(threads)),
        "MKL_NUM_THREADS": str(int(threads)),
    }


def run_step(target: str, kwargs: dict, environ: dict[str, str], log_path: str | Path) -> None:
    """Call ``module:function(**kwargs)`` in a fresh Python process with ``environ`` added to the environment.

    Parameters
    ----------
    target : str
        ``"package.module:function"``; the function must take JSON-serialisable keyword arguments.
    kwargs : dict
        Its keyword arguments.
    environ : dict of str to str
        Variables added to (or replacing those of) this process's environment, e.g. :func:`nnunet_environ`.
    log_path : str or Path
        File that receives the child's stdout and stderr (overwritten).

    Raises
    ------
    NnunetStepError
        If the child exits with a non-zero status; the message names the log and quotes its last lines.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, target, json.dumps(kwargs)],
            stdout=log, stderr=subprocess.STDOUT, env=env, check=False,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),  # killed with this process
        )
    if done.returncode != 0:
        lines = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        raise NnunetStepError(f"{target} failed (exit status {done.returncode}); log {log_path}:\n" + "\n".join(lines))
