r"""Named ranges for the profiler: ``scripts/benchmark_models.py --profile`` attributes forward *and* backward time
to them (a backward node inherits the range of the forward op that created it, matched by autograd sequence number).

Outside a profiler a range costs about a microsecond; the transforms open a handful per layer.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["PREFIX", "labelled", "op_range"]

PREFIX = "sphere_study::"


def op_range(name: str):
    """Context manager marking the enclosed ops as operation ``name`` (e.g. ``"wigner_analysis"``)."""
    return torch.profiler.record_function(PREFIX + name)


def labelled(name: str):
    """Decorator: run the function inside :func:`op_range` ``(name)``."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with op_range(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
