r"""Haar integration over SO(3) and area integration over S², per channel: the invariant pooling of S2CNNs.

.. math:: \int_{SO(3)} f(g)\, dg \approx \sum_{j,k,t} w_j f(\beta_j, \alpha_k, \gamma_t), \qquad
          \frac{1}{4\pi}\int_{S^2} f(x)\, dx \approx \sum_{j,k} 2b\, w_j f(\beta_j, \alpha_k),

with the SOFT weights :math:`w_j` (exact for band-limited f, and normalised so that the integral of 1 is 1).
Invariance: :math:`\int (L_Q f) = \int f` for every rotation Q.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ..harmonics import s2_quadrature_weights, so3_quadrature_weights
from ..harmonics._validation import s2_bandwidth_of_signal, so3_bandwidth_of_signal

__all__ = ["so3_integrate", "s2_integrate", "quadrature_weights"]


@lru_cache(maxsize=64)
def quadrature_weights(space: str, b: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-β weights of one grid cell, cached per (space, b, dtype, device): ``(2b,)``."""
    fn = s2_quadrature_weights if space == "s2" else so3_quadrature_weights
    return fn(b, dtype, device)


def so3_integrate(x: torch.Tensor) -> torch.Tensor:
    r"""Haar integral of SO(3) signals ``[..., 2b, 2b, 2b]`` -> ``[...]`` (e.g. ``[B, C, β, α, γ]`` -> ``[B, C]``).

    Examples
    --------
    >>> so3_integrate(torch.ones(2, 3, 8, 8, 8, dtype=torch.float64))
    tensor([[1., 1., 1.],
            [1., 1., 1.]], dtype=torch.float64)
    """
    b = so3_bandwidth_of_signal(x, "so3_integrate input")
    return x.sum(dim=(-2, -1)) @ quadrature_weights("so3", b, x.dtype, x.device)


def s2_integrate(x: torch.Tensor) -> torch.Tensor:
    r"""Normalised area integral of S² signals ``[..., 2b, 2b]`` -> ``[...]``."""
    b = s2_bandwidth_of_signal(x, "s2_integrate input")
    return x.sum(dim=-1) @ quadrature_weights("s2", b, x.dtype, x.device)
