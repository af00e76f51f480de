r"""s2cnn's kernel grids on S²: tuples of ``(beta, alpha)`` tuples, from :mod:`sphere_study.harmonics`."""

from __future__ import annotations

import numpy as np
import torch

from ... import harmonics as _h

__all__ = ["s2_near_identity_grid", "s2_equatorial_grid", "s2_soft_grid", "as_tuples"]


def as_tuples(grid: torch.Tensor) -> tuple:
    """A grid tensor ``[n_points, k]`` as s2cnn's tuple of k-tuples of floats (hashable, as s2cnn caches on it)."""
    return tuple(tuple(float(v) for v in row) for row in grid.tolist())


def s2_near_identity_grid(max_beta=np.pi / 8, n_alpha=8, n_beta=3):
    """Rings around the north pole: ``n_beta * n_alpha`` ``(beta, alpha)`` tuples (beta up to max_beta)."""
    return as_tuples(_h.s2_near_identity_grid(max_beta, n_alpha, n_beta))


def s2_equatorial_grid(max_beta=0, n_alpha=32, n_beta=1):
    """Rings around the equator: ``n_beta * n_alpha`` ``(beta, alpha)`` tuples."""
    return as_tuples(_h.s2_equatorial_grid(max_beta, n_alpha, n_beta))


def s2_soft_grid(b):
    """All ``(2b)^2`` points of the SOFT grid on S², ``(beta, alpha)`` tuples, beta-major (as ``x.view(-1)``)."""
    beta, alpha = _h.s2_soft_grid(b)
    B, A = torch.meshgrid(beta, alpha, indexing="ij")
    return as_tuples(torch.stack([B.flatten(), A.flatten()], 1))
