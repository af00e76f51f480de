"""Timing and memory helpers shared by the benchmark scripts (not part of the package).

* :func:`measure` runs a callable a few times after warm-up and returns the median wall time and the peak memory:
  on CUDA ``torch.cuda.max_memory_allocated`` above the starting allocation; on CPU the peak resident set size above
  the starting one, sampled every millisecond from ``/proc/self/statm`` by a background thread, after
  the transforms' scratch memory is released and ``malloc_trim`` has returned freed heap memory to the OS (so the
  start is the live memory, and the peak is what the call adds on top: its activations, temporaries and scratch).
* :func:`measure_in_reference_units` times a callable interleaved with :class:`ReferenceGEMM` (one GFLOP of complex64
  ``torch.bmm``), so that a result is a ratio that the machine's load moves much less than a time in seconds.
* :func:`machine` describes the machine for the JSON header.

Importing this module applies :func:`sphere_study._allocator.keep_freed_memory`, as the ``sphere-study`` command
does, so the benchmarks time what training runs.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time

import torch

from sphere_study._allocator import keep_freed_memory
from sphere_study.harmonics._workspace import release_workspace

MALLOC_TUNED = keep_freed_memory()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: no sampling
        return 0


class _PeakRSS:
    def __enter__(self):
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _trim_heap() -> None:
    """Free the transforms' scratch memory and return freed heap memory to the OS, so that a peak measured from here
    counts everything the workload allocates (scratch included)."""
    release_workspace()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn, device: torch.device, repeats: int = 5, warmup: int = 1) -> dict:
    """Median seconds of ``fn()`` over ``repeats`` runs (after ``warmup``) and peak extra memory in MiB."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    _trim_heap()
    with _PeakRSS() as rss:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device) - base) if device.type == "cuda" else (rss.peak - rss.start)
    return {"median_s": statistics.median(times), "min_s": min(times), "peak_mem_mib": peak / 2**20, "repeats": repeats}


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "malloc_keeps_freed_memory": MALLOC_TUNED,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def devices(only: str | None = None) -> list[torch.device]:
    """CPU and CUDA when present; or just ``only`` ("cpu" / "cuda"; SystemExit if CUDA is asked for and absent)."""
    if only == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    if only is not None:
        return [torch.device(only)]
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


class ReferenceGEMM:
    r"""The reference workload of issue 13: complex64 ``torch.bmm`` of ``[64, 64, 96] @ [64, 96, 128]``, three calls.

    One call is :math:`8 \cdot 64 \cdot 64 \cdot 96 \cdot 128 = 0.403` GFLOP (8 real flops per complex
    multiply-add); :meth:`seconds_per_gflop` times three calls and divides by their 1.21 GFLOP. A workload's time in
    *reference units* is its seconds divided by that: the GFLOP this machine's GEMM would do in the same time.
    """

    FLOPS_PER_CALL = 8 * 64 * 64 * 96 * 128
    CALLS = 3

    def __init__(self, device: torch.device):
        self.device = device
        g = torch.Generator().manual_seed(0)
        self.a = torch.randn(64, 64, 96, dtype=torch.complex64, generator=g).to(device)
        self.b = torch.randn(64, 96, 128, dtype=torch.complex64, generator=g).to(device)
        self.seconds_per_gflop()  # warm-up

    def seconds_per_gflop(self) -> float:
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(self.CALLS):
            torch.bmm(self.a, self.b)
        _sync(self.device)
        return (time.perf_counter() - start) / (self.CALLS * self.FLOPS_PER_CALL / 1e9)

    def rate_gflops(self, repeats: int = 5) -> float:
        """Median GFLOP/s of the reference GEMM."""
        return 1.0 / statistics.median(self.seconds_per_gflop() for _ in range(repeats))


def measure_in_reference_units(fn, device: torch.device, reference: ReferenceGEMM, repeats: int = 5,
                               warmup: int = 1) -> dict:  # fmt: skip
    """``fn()`` timed ``repeats`` times, each run between two reference measurements; its time in reference units is
    the median over runs of ``seconds / (mean of the two neighbouring seconds-per-GFLOP)``. Also the median seconds
    and the peak extra memory in MiB (as :func:`measure`)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    _trim_heap()
    times, units, refs = [], [], [reference.seconds_per_gflop()]
    with _PeakRSS() as rss:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
            refs.append(reference.seconds_per_gflop())
            units.append(times[-1] / (0.5 * (refs[-2] + refs[-1])))
    peak = (torch.cuda.max_memory_allocated(device) - base) if device.type == "cuda" else (rss.peak - rss.start)
    return {"median_s": statistics.median(times), "min_s": min(times), "reference_units": statistics.median(units),
            "reference_s_per_gflop": statistics.median(refs), "peak_mem_mib": peak / 2**20,
            "repeats": repeats}  # fmt: skip
