"""CPU allocator tuning for training processes: keep freed memory in glibc's heap between steps.

A training step of a spectral network allocates and frees many temporaries of 1–30 MB (FFT outputs, Wigner-step
blocks, their gradients). With glibc's defaults those come from ``mmap`` or sit at the top of the heap, which
``free`` returns to the OS, so every step page-faults its whole working set in again. For the Cohen classifier on
2 cores that was a quarter of the step: 0.27 → 0.19 s per batch of 32 (``scripts/benchmark_models.py``).

:func:`keep_freed_memory` fixes the mmap threshold at glibc's own dynamic maximum (32 MiB: larger blocks are still
mapped and unmapped; the transforms keep their grid-sized intermediates in scratch memory for that reason,
:mod:`sphere_study.harmonics._workspace`) and turns heap trimming off. Serving every block from the heap
(``M_MMAP_MAX = 0``) was measured too: the 204k segmenter's step took 25% less time, but the heap fragmented and its
peak growth went from 1.0 to 1.8 GiB. Resident memory then stays at the peak of the run, which a training
process reaches every step anyway. It changes the whole process, so the library never calls it on import: the
``sphere-study`` command and the benchmark scripts do. ``SPHERE_STUDY_MALLOC=default`` keeps glibc's defaults; off
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module docstring says; True when it was applied."""
    if os.environ.get("SPHERE_STUDY_MALLOC", "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
