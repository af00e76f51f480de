r"""Evaluating band-limited signals at arbitrary points from their spectra (spectral interpolation).

.. math:: f(\beta, \alpha) = \sum_{l<b} (2l+1) \sum_m \hat f^l_m\, e^{im\alpha} d^l_{m0}(\beta), \qquad
          f(\beta, \alpha, \gamma) = \sum_{l<b} (2l+1) \sum_{m,n} \hat f^l_{mn}\, e^{im\alpha} d^l_{mn}(\beta)
          e^{in\gamma}.

Exact for band-limited signals at any point, on or off the grid, so the tests use it as the reference for rotations
and for the kernel identities of the layers. Cost O(points × nspec): meant for checks, not for training.
"""

from __future__ import annotations

import numpy as np
import torch

from ._validation import s2_bandwidth_of_spectrum, so3_bandwidth_of_spectrum
from ._wigner import s2_index, so3_index, wigner_d_rows

__all__ = ["s2_evaluate", "so3_evaluate"]


def _orders(b: int, space: str):
    l = np.repeat(np.arange(b), (2 * np.arange(b) + 1) ** (1 if space == "s2" else 2))
    if space == "s2":
        m = np.concatenate([np.arange(-d, d + 1) for d in range(b)])
        return l, m, np.zeros_like(m)
    m = np.concatenate([np.repeat(np.arange(-d, d + 1), 2 * d + 1) for d in range(b)])
    n = np.concatenate([np.tile(np.arange(-d, d + 1), 2 * d + 1) for d in range(b)])
    return l, m, n


def _evaluate(xhat: torch.Tensor, b: int, space: str, alpha, beta, gamma) -> torch.Tensor:
    alpha, beta, gamma = (np.asarray(a, dtype=np.float64).reshape(-1) for a in np.broadcast_arrays(alpha, beta, gamma))
    l, m, n = _orders(b, space)
    d = wigner_d_rows(beta, b)[:, so3_index(l, m, n)]  # [points, nspec]: d^l_{mn}(beta)
    basis = (2 * l + 1) * np.exp(1j * (m * alpha[:, None] + n * gamma[:, None])) * d  # [points, nspec]
    basis = torch.from_numpy(basis).to(device=xhat.device, dtype=torch.complex128)
    order = s2_index(l, m) if space == "s2" else so3_index(l, m, n)
    assert (order == np.arange(len(order))).all()
    return (xhat.to(torch.complex128) @ basis.T).to(xhat.dtype if xhat.is_complex() else torch.complex128)


def s2_evaluate(xhat: torch.Tensor, beta, alpha) -> torch.Tensor:
    """Values ``[..., n_points]`` (complex) of the S² signal with spectrum ``xhat [..., b^2]`` at points (β, α)."""
    b = s2_bandwidth_of_spectrum(xhat)
    return _evaluate(xhat, b, "s2", alpha, beta, 0.0)


def so3_evaluate(xhat: torch.Tensor, beta, alpha, gamma) -> torch.Tensor:
    """Values ``[..., n_points]`` (complex) of the SO(3) signal with spectrum ``xhat`` at rotations (β, α, γ)."""
    b = so3_bandwidth_of_spectrum(xhat)
    return _evaluate(xhat, b, "so3", alpha, beta, gamma)
