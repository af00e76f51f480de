r"""s2cnn's kernel grids on SO(3): tuples of ``(beta, alpha, gamma)`` tuples, from :mod:`sphere_study.harmonics`."""

from __future__ import annotations

import numpy as np
import torch

from ... import harmonics as _h
from .s2_grid import as_tuples

__all__ = ["so3_near_identity_grid", "so3_equatorial_grid", "so3_soft_grid"]


def so3_near_identity_grid(max_beta=np.pi / 8, max_gamma=2 * np.pi, n_alpha=8, n_beta=3, n_gamma=None):
    """Rings of rotations around the identity: ``n_beta * n_alpha * n_gamma`` ``(beta, alpha, gamma)`` tuples."""
    return as_tuples(_h.so3_near_identity_grid(max_beta, max_gamma, n_alpha, n_beta, n_gamma))


def so3_equatorial_grid(max_beta=0, max_gamma=np.pi / 8, n_alpha=32, n_beta=1, n_gamma=2):
    """Rings of rotations around the equator: ``(beta, alpha, gamma)`` tuples."""
    return as_tuples(_h.so3_equatorial_grid(max_beta, max_gamma, n_alpha, n_beta, n_gamma))


def so3_soft_grid(b):
    """All ``(2b)^3`` points of the SOFT grid on SO(3), ``(beta, alpha, gamma)`` tuples, beta-major."""
    beta, alpha, gamma = _h.so3_soft_grid(b)
    B, A, C = torch.meshgrid(beta, alpha, gamma, indexing="ij")
    return as_tuples(torch.stack([B.flatten(), A.flatten(), C.flatten()], 1))
