r"""Who may write a point folder: the point lock, and the fit processes a sweep started (stopped with it)."""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
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
