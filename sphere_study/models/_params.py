r"""Parameter counting and width matching, so that the compared models are fair in parameters.

The study compares an SO(3)-equivariant S2CNN against planar CNNs *of the same size*. :func:`count_parameters` is
the one definition of "size" (trainable parameters); :func:`match_width` scales a CNN's channel widths by a common
multiplier until its size is within a relative tolerance of a target, e.g. the S2CNN classifier's 154,550.

Width scaling: for base widths :math:`w_i` and a multiplier :math:`\mu > 0` the widths are
:math:`w_i(\mu) = \max(1, \lfloor \mu w_i + \tfrac12 \rfloor)`. Every width is non-decreasing in :math:`\mu`, and a
CNN's parameter count is a polynomial with non-negative coefficients in its widths, so the count is a non-decreasing
step function of :math:`\mu`: bisection finds the step nearest the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["WidthMatch", "count_parameters", "match_width", "scale_widths"]


def count_parameters(model: nn.Module) -> int:
    r"""Number of trainable parameters of ``model``: :math:`\sum` numel over parameters with ``requires_grad``.

    Parameters shared between submodules are counted once (``model.parameters()`` deduplicates them); buffers (batch
    norm running statistics, precomputed Wigner tables) are not parameters and are not counted.

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))  # 3*2 weights + 2 biases
    8
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"count_parameters needs an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def scale_widths(base_widths: Sequence[int], multiplier: float) -> tuple[int, ...]:
    r"""Widths :math:`\max(1, \lfloor \mu w_i + \frac12 \rfloor)` of base widths :math:`w_i` at multiplier :math:`\mu`.

    Examples
    --------
    >>> scale_widths((16, 32, 64), 1.5)
    (24, 48, 96)
    >>> scale_widths((16, 32, 64), 0.01)
    (1, 1, 1)
    """
    base = _check_base_widths(base_widths)
    if not (isinstance(multiplier, (int, float)) and math.isfinite(multiplier) and multiplier > 0):
        raise ValueError(f"width multiplier must be a positive finite number, got {multiplier!r}")
    return tuple(max(1, math.floor(multiplier * w + 0.5)) for w in base)


@dataclass(frozen=True)
class WidthMatch:
    r"""Result of :func:`match_width`.

    Attributes
    ----------
    model : nn.Module
        The network built with ``widths`` (on the default device, freshly initialised).
    widths : tuple of int
        The channel widths found.
    multiplier : float
        A multiplier that gives ``widths`` from the base widths.
    num_params : int
        ``count_parameters(model)``.
    target_params : int
        The requested count.
    """

    model: nn.Module
    widths: tuple[int, ...]
    multiplier: float
    num_params: int
    target_params: int

    @property
    def rel_error(self) -> float:
        r"""Relative deviation :math:`|n - n_\text{target}| / n_\text{target}`."""
        return abs(self.num_params - self.target_params) / self.target_params


def match_width(
    build_fn: Callable[[tuple[int, ...]], nn.Module],
    target_params: int,
    base_widths: Sequence[int],
    *,
    rel_tol: float = 0.02,
    max_multiplier: float = 1024.0,
) -> WidthMatch:
    r"""Scale the channel widths of a network so that its trainable parameter count matches a target.

    Finds the multiplier :math:`\mu` whose widths :func:`scale_widths(base_widths, μ) <scale_widths>` give the count
    closest to ``target_params`` and returns the network if it is within ``rel_tol`` (relative) of the target.

    Parameters
    ----------
    build_fn : callable
        ``build_fn(widths) -> nn.Module``, building the network from a tuple of integer channel widths (same length
        as ``base_widths``). It is called many times during the search; the search builds on the ``meta`` device
        (no memory, no initialisation) and falls back to the default device if ``build_fn`` fails there.
    target_params : int
        Target number of trainable parameters.
    base_widths : sequence of int
        Widths at multiplier 1; their ratios are kept (up to rounding).
    rel_tol : float
        Accepted relative deviation, default 0.02 (2 %).
    max_multiplier : float
        Largest multiplier tried before giving up.

    Returns
    -------
    WidthMatch
        The built network, its widths, multiplier and parameter count.

    Raises
    ------
    ValueError
        If the target is below the count at all widths 1, above the count at ``max_multiplier``, or falls in a gap
        between two consecutive counts wider than the tolerance (integer widths cannot hit it).

    Examples
    --------
    >>> def mlp(widths):
    ...     return nn.Sequential(nn.Linear(10, widths[0]), nn.ReLU(), nn.Linear(widths[0], 2))
    >>> match = match_width(mlp, 5_000, (8,))
    >>> match.widths, match.num_params  # 10*w + w + 2*w + 2 = 13*384 + 2
    ((384,), 4994)
    """
    base = _check_base_widths(base_widths)
    if isinstance(target_params, bool) or not isinstance(target_params, int) or target_params <= 0:
        raise ValueError(f"target_params must be a positive integer, got {target_params!r}")
    if not (isinstance(rel_tol, (int, float)) and 0 <= rel_tol < 1):
        raise ValueError(f"rel_tol must be a number in [0, 1), got {rel_tol!r}")
    if not (isinstance(max_multiplier, (int, float)) and math.isfinite(max_multiplier) and max_multiplier > 0):
        raise ValueError(f"max_multiplier must be a positive finite number, got {max_multiplier!r}")

    try:
        best = _search(build_fn, target_params, base, max_multiplier, device="meta")
    except (RuntimeError, NotImplementedError, TypeError):
        # build_fn does something the meta device cannot (reads tensor values, e.g. to build lookup tables).
        best = _search(build_fn, target_params, base, max_multiplier, device=None)

    widths, multiplier, num_params = best
    if abs(num_params - target_params) > rel_tol * target_params:
        raise ValueError(
            f"cannot match {target_params:,} parameters within {100 * rel_tol:g}% by scaling widths {base}: "
            f"the closest is {num_params:,} parameters at widths {widths} (multiplier {multiplier:.4g}, "
            f"{100 * abs(num_params - target_params) / target_params:.2g}% off); "
            "change the base widths or the tolerance"
        )
    model = _checked_build(build_fn, widths)
    return WidthMatch(
        model=model,
        widths=widths,
        multiplier=multiplier,
        num_params=count_parameters(model),
        target_params=target_params,
    )


def _check_base_widths(base_widths: Sequence[int]) -> tuple[int, ...]:
    base = tuple(base_widths) if isinstance(base_widths, Sequence) and not isinstance(base_widths, str) else None
    if not base or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in base):
        raise ValueError(f"base_widths must be a non-empty sequence of positive integers, got {base_widths!r}")
    return base


def _checked_build(build_fn: Callable[[tuple[int, ...]], nn.Module], widths: tuple[int, ...]) -> nn.Module:
    model = build_fn(widths)
    if not isinstance(model, nn.Module):
        raise ValueError(f"build_fn must return an nn.Module, got {type(model).__name__} for widths {widths}")
    return model


def _search(
    build_fn: Callable[[tuple[int, ...]], nn.Module],
    target_params: int,
    base: tuple[int, ...],
    max_multiplier: float,
    device: str | None,
) -> tuple[tuple[int, ...], float, int]:
    r"""Bisection on the multiplier for the count nearest ``target_params``: ``(widths, multiplier, count)``."""
    cache: dict[tuple[int, ...], int] = {}

    def count_at(multiplier: float) -> tuple[tuple[int, ...], int]:
        widths = scale_widths(base, multiplier)
        if widths not in cache:
            if device is None:
                cache[widths] = count_parameters(_checked_build(build_fn, widths))
            else:
                with torch.device(device):
                    cache[widths] = count_parameters(_checked_build(build_fn, widths))
        return widths, cache[widths]

    # At lo every width is 1: the smallest network of this shape.
    lo = 0.5 / max(base)
    lo_widths, lo_count = count_at(lo)
    if lo_count >= target_params:
        return lo_widths, lo, lo_count

    hi = 1.0
    while count_at(hi)[1] < target_params:
        if hi >= max_multiplier:
            widths, count = count_at(hi)
            raise ValueError(
                f"cannot reach {target_params:,} parameters by scaling widths {base}: at the largest multiplier "
                f"{hi:.4g} (widths {widths}) the network has only {count:,}; raise max_multiplier"
            )
        hi = min(2 * hi, max_multiplier)

    # Invariant: count(lo) < target <= count(hi). 64 halvings take hi - lo below float resolution; counts are
    # cached per width tuple, so only distinct networks are built.
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        if count_at(mid)[1] < target_params:
            lo = mid
        else:
            hi = mid
    (lo_widths, lo_count), (hi_widths, hi_count) = count_at(lo), count_at(hi)
    if target_params - lo_count < hi_count - target_params:
        return lo_widths, lo, lo_count
    return hi_widths, hi, hi_count
