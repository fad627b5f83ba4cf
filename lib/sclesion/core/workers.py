"""Worker processes that die with their parent.

A parent killed with SIGKILL (an out-of-memory killer, ``scancel``, a CI timeout) gets no chance to stop its
workers; left alone they run on forever and hold the caller's pipes open, so ``sclesion ... | tee log`` never
returns. Every pool of this library comes from :func:`process_pool`, whose workers ask Linux to send them
SIGKILL when their parent dies (``prctl(PR_SET_PDEATHSIG)``) and check, once that is set, that the parent
is still the one that started them. Elsewhere a watchdog thread in each worker polls the parent's pid.
:func:`die_with_parent` does the same for a child started with :mod:`subprocess` (``preexec_fn``).
"""

from __future__ import annotations

import numbers
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from sclesion.core.errors import InputError

_PR_SET_PDEATHSIG = 1

#: Seconds between two checks of the parent's pid where prctl is not available.
POLL_S = 1.0


def die_with_parent(parent_pid: int | None = None) -> None:
    """Arrange for this process to be killed when its parent dies; exit now if it is already gone.

    Parameters
    ----------
    parent_pid : int, optional
        The pid the parent had when this process was started (default: the current parent).
    """
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="watch-parent").start()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGKILL)


def check_jobs(n_jobs: int, option: str = "--jobs") -> int:
    """``n_jobs`` as an int >= 1, or :class:`InputError` naming the option."""
    whole = isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool)
    if not whole or n_jobs < 1:
        raise InputError(f"{option} must be a whole number >= 1, got {n_jobs!r}")
    return int(n_jobs)


def process_pool(n_jobs: int, initializer=None, initargs: tuple = (), context=None) -> ProcessPoolExecutor:
    """A :class:`concurrent.futures.ProcessPoolExecutor` of ``n_jobs`` workers that die with this process.

    Submit work from the thread that will wait for it (Linux sends the signal when the thread that forked
    the worker ends).

    Parameters
    ----------
    n_jobs : int
        Workers, >= 1.
    initializer : callable, optional
        Run in each worker after it is tied to this process (e.g. to load a model once per worker).
    initargs : tuple
        Arguments of ``initializer``.
    context : multiprocessing context, optional
        E.g. ``multiprocessing.get_context("spawn")``; default: the platform's.
    """
    return ProcessPoolExecutor(max_workers=check_jobs(n_jobs), mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, tuple(initargs)))


def _start_worker(parent_pid: int, initializer, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
