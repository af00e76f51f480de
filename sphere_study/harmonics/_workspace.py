"""Reusable scratch memory for the layers' transforms (two slots per thread, device and dtype).

A layer's transform passes its signal through two or three matrix products whose intermediate results are as large as
the feature grid (up to 100 MB for the 204k segmenter at batch 4). Allocated afresh, each one costs more in page
faults than its product costs in arithmetic: glibc serves blocks above 32 MiB with ``mmap`` and unmaps them on
``free``, so every step faults them in again (about 40 ms per 100 MB on these machines). The transforms instead write
their intermediates into two slots that grow to the largest size asked for and are kept: the memory of one
intermediate pair, reused by every layer. Only a transform's final output (which autograd may keep) is allocated.

Slots are per thread (concurrent forwards never share one) and per device and dtype; on CUDA, whose caching allocator
already reuses memory, they are not used. :func:`release_workspace` frees them (the benchmarks do, so that a measured
peak includes them).
"""

from __future__ import annotations

import threading

import torch

__all__ = ["workspace", "release_workspace"]

_local = threading.local()


def workspace(slot: int, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A flat tensor of ``numel`` elements from scratch slot ``slot`` (0 or 1): valid until the next call for the same
    slot in this thread, so never hand it to autograd. Freshly allocated on CUDA."""
    if device.type != "cpu":
        return torch.empty(numel, dtype=dtype, device=device)
    slots = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = {}
    key = (slot, dtype, device)
    buffer = slots.get(key)
    if buffer is None or buffer.numel() < numel:
        slots.pop(key, None)  # free the old one before allocating the larger one
        buffer = slots[key] = torch.empty(numel, dtype=dtype, device=device)
    return buffer[:numel]


def release_workspace() -> None:
    """Free this thread's scratch slots."""
    _local.slots = {}
