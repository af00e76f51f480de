r"""Who may write a point folder: the point lock, and the fit processes a sweep started (stopped with it).

Two locks guard a point: the sweep's ``<point>/.sweep.lock`` (held by the sweep process while it runs the point)
and the fit's own ``<point>/.run.lock`` (held by the fit for as long as it writes, see
:mod:`sphere_study._run_folder`). A sweep stopped normally (Ctrl-C, SIGTERM) terminates its fits; one killed with
``kill -9`` cannot, so each fit is started with the kernel's parent-death signal (Linux ``PR_SET_PDEATHSIG``:
SIGKILL when the sweep dies); and where that is not available, the fit's run lock makes a rerun report the point
as busy instead of starting a second writer.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ._schema import (
    LOCK_FILE,
)


class _ProcessRegistry:
    """The running fit processes, so that an interrupted sweep can stop them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    @contextlib.contextmanager
    def running(self, process: subprocess.Popen) -> Iterator[None]:
        with self._lock:
            self._processes.add(process)
        if self.stopping.is_set():  # started while stop_all was collecting the processes
            process.terminate()
        try:
            yield
        finally:
            with self._lock:
                self._processes.discard(process)

    def stop_all(self, grace_s: float = 10.0) -> None:
        self.stopping.set()
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + grace_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def die_with_parent(parent_pid: int) -> None:
    """In a child before ``exec``: ask Linux to SIGKILL it when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the run lock still keeps a second writer out
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def _point_lock(point_dir: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the point folder; yields False (and holds nothing) if another process has it."""
    point_dir.mkdir(parents=True, exist_ok=True)
    with open(point_dir / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
