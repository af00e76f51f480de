r"""The public API of the original ``s2cnn`` package, implemented by sphere-study's layers.

Existing s2cnn model code runs on current PyTorch by changing only its import::

    # from s2cnn import S2Convolution, SO3Convolution, so3_integrate, s2_near_identity_grid, so3_near_identity_grid
    from sphere_study.compat.s2cnn import S2Convolution, SO3Convolution, so3_integrate, ...

Names and signatures follow s2cnn (``nfeature_in``, ``nfeature_out``, ``b_in``, ``b_out``, ``grid``; grids are tuples
of ``(beta, alpha)`` / ``(beta, alpha, gamma)`` tuples), including ``SO3ToS2`` from Gerken et al.'s fork.

Differences to know:

* The maps are the same correlations, but the normalisation differs: sphere-study's transforms are exactly
  normalised, so a layer computes :math:`s\sum_{c,p} w_{cop} f_c(R g_p)` with He scaling
  :math:`s = \sqrt{2/(C_{in}P)}` (s2cnn scaled by bandwidth-dependent factors to compensate its unnormalised FFTs).
  Trained s2cnn checkpoints therefore do not load as they are; retrain, or rescale ``weight`` yourself.
* Parameters are called ``weight`` ``[C_in, C_out, P]`` (s2cnn: ``kernel``) and ``bias`` ``[C_out]``
  (s2cnn: ``[1, C_out, 1, 1, 1]``).
* Inputs are checked: a wrong shape or bandwidth raises ``ValueError`` instead of an ``AssertionError``.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import harmonics as _h
from ..nn import S2Conv, SO3Conv, so3_integrate
from ..nn import SO3Shortcut as _SO3Shortcut
from ..nn import SO3ToS2 as _SO3ToS2

__all__ = [
    "S2Convolution",
    "SO3Convolution",
    "SO3Shortcut",
    "SO3ToS2",
    "so3_integrate",
    "so3_rotation",
    "s2_near_identity_grid",
    "s2_equatorial_grid",
    "s2_soft_grid",
    "so3_near_identity_grid",
    "so3_equatorial_grid",
    "so3_soft_grid",
]


def _as_tuples(grid: torch.Tensor) -> tuple:
    return tuple(tuple(float(v) for v in row) for row in grid.tolist())


def s2_near_identity_grid(max_beta=np.pi / 8, n_alpha=8, n_beta=3):
    """Rings around the north pole: a tuple of ``n_beta * n_alpha`` ``(beta, alpha)`` tuples."""
    return _as_tuples(_h.s2_near_identity_grid(max_beta, n_alpha, n_beta))


def s2_equatorial_grid(max_beta=0, n_alpha=32, n_beta=1):
    """Rings around the equator: a tuple of ``(beta, alpha)`` tuples."""
    return _as_tuples(_h.s2_equatorial_grid(max_beta, n_alpha, n_beta))


def so3_near_identity_grid(max_beta=np.pi / 8, max_gamma=2 * np.pi, n_alpha=8, n_beta=3, n_gamma=None):
    """Rings of rotations around the identity: a tuple of ``(beta, alpha, gamma)`` tuples."""
    return _as_tuples(_h.so3_near_identity_grid(max_beta, max_gamma, n_alpha, n_beta, n_gamma))


def so3_equatorial_grid(max_beta=0, max_gamma=np.pi / 8, n_alpha=32, n_beta=1, n_gamma=2):
    """Rings of rotations around the equator: a tuple of ``(beta, alpha, gamma)`` tuples."""
    return _as_tuples(_h.so3_equatorial_grid(max_beta, max_gamma, n_alpha, n_beta, n_gamma))


def s2_soft_grid(b):
    """All points of the SOFT grid on S², ``(beta, alpha)`` tuples in [beta, alpha] order."""
    beta, alpha = _h.s2_soft_grid(b)
    B, A = torch.meshgrid(beta, alpha, indexing="ij")
    return _as_tuples(torch.stack([B.flatten(), A.flatten()], 1))


def so3_soft_grid(b):
    """All points of the SOFT grid on SO(3), ``(beta, alpha, gamma)`` tuples."""
    beta, alpha, gamma = _h.so3_soft_grid(b)
    B, A, C = torch.meshgrid(beta, alpha, gamma, indexing="ij")
    return _as_tuples(torch.stack([B.flatten(), A.flatten(), C.flatten()], 1))


class S2Convolution(S2Conv):
    """s2cnn's ``S2Convolution(nfeature_in, nfeature_out, b_in, b_out, grid)``: :class:`sphere_study.nn.S2Conv`."""

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid)
        self.nfeature_in, self.nfeature_out, self.grid = nfeature_in, nfeature_out, grid


class SO3Convolution(SO3Conv):
    """s2cnn's ``SO3Convolution(nfeature_in, nfeature_out, b_in, b_out, grid)``: :class:`sphere_study.nn.SO3Conv`."""

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid)
        self.nfeature_in, self.nfeature_out, self.grid = nfeature_in, nfeature_out, grid


class SO3ToS2(_SO3ToS2):
    """Gerken et al.'s ``SO3ToS2(nfeature_in, nfeature_out, b_in, b_out, grid)``: :class:`sphere_study.nn.SO3ToS2`."""

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid)
        self.nfeature_in, self.nfeature_out, self.grid = nfeature_in, nfeature_out, grid


class SO3Shortcut(_SO3Shortcut):
    """s2cnn's ``SO3Shortcut(nfeature_in, nfeature_out, b_in, b_out)``: identity or a one-point SO3 correlation."""

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out)
        self.nfeature_in, self.nfeature_out = nfeature_in, nfeature_out


def so3_rotation(x, alpha, beta, gamma):
    """Rotate SO(3) signals ``[..., 2b, 2b, 2b]`` by :math:`R_z(\\alpha)R_y(\\beta)R_z(\\gamma)`:
    ``f -> f(R^{-1} .)``."""
    return _h.so3_rotate(x, _h.rotation_matrix(alpha, beta, gamma))
