r"""SOFT sampling grids on S² and SO(3), their quadrature weights, and the kernel grids of S2CNN.

For bandwidth :math:`b` the SOFT grid (Kostelec & Rockmore) is

.. math::

    \beta_j = \frac{\pi (2j + 1)}{4b}, \qquad \alpha_k = \gamma_k = \frac{2\pi k}{2b}, \qquad j, k = 0, \dots, 2b-1.

S² signals are sampled at :math:`(\beta_j, \alpha_k)`, SO(3) signals at :math:`(\beta_j, \alpha_k, \gamma_t)`, and the
point :math:`(\beta, \alpha)` of S² is
:math:`x = R(\alpha, \beta, \gamma) e_z = (\sin\beta\cos\alpha, \sin\beta\sin\alpha, \cos\beta)`.

Kernel grids are point sets of shape ``(n_points, 2)`` with columns ``(beta, alpha)`` (S²) or ``(n_points, 3)`` with
columns ``(beta, alpha, gamma)`` (SO(3)). They follow the definitions of the s2cnn package so that published networks
keep their parameter counts.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ._lie_learn import quadrature_weights as _lie_learn_quadrature_weights
from ._validation import check_bandwidth

__all__ = [
    "s2_soft_grid",
    "so3_soft_grid",
    "s2_grid_points",
    "s2_quadrature_weights",
    "so3_quadrature_weights",
    "s2_near_identity_grid",
    "s2_equatorial_grid",
    "so3_near_identity_grid",
    "so3_equatorial_grid",
]


def _tensor(a, dtype, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device).to(dtype)


def s2_soft_grid(b: int, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The SOFT grid on S²: ``(beta, alpha)``, each of shape ``(2b,)``.

    Examples
    --------
    >>> beta, alpha = s2_soft_grid(2)
    >>> beta.shape, alpha.shape
    (torch.Size([4]), torch.Size([4]))
    >>> bool(abs(beta[0] - math.pi / 8) < 1e-15)
    True
    """
    check_bandwidth(b)
    j = np.arange(2 * b)
    beta = np.pi * (2 * j + 1) / (4 * b)
    alpha = 2 * np.pi * j / (2 * b)
    return _tensor(beta, dtype, device), _tensor(alpha, dtype, device)


def so3_soft_grid(b: int, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The SOFT grid on SO(3): ``(beta, alpha, gamma)``, each of shape ``(2b,)`` (γ takes the values of α)."""
    beta, alpha = s2_soft_grid(b, dtype, device)
    return beta, alpha, alpha.clone()


def s2_grid_points(b: int, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Cartesian points of the SOFT grid on S², shape ``(2b, 2b, 3)`` indexed ``[beta, alpha]``.

    .. math:: x_{jk} = (\sin\beta_j \cos\alpha_k, \sin\beta_j \sin\alpha_k, \cos\beta_j)
    """
    beta, alpha = s2_soft_grid(b, torch.float64, device)
    B, A = torch.meshgrid(beta, alpha, indexing="ij")
    x = torch.stack([B.sin() * A.cos(), B.sin() * A.sin(), B.cos().expand_as(A)], dim=-1)
    return x.to(dtype)


def so3_quadrature_weights(b: int, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""SOFT quadrature weights :math:`w_j` on β, shape ``(2b,)``, for the normalised Haar measure of SO(3).

    .. math:: \int_{SO(3)} f(g)\, dg \approx \sum_{j,k,t} w_j f(\beta_j, \alpha_k, \gamma_t), \qquad
              \sum_j w_j = \frac{1}{(2b)^2},

    exact for band-limited f (degrees < b). Taken from lie_learn's ``S3.quadrature_weights``.
    """
    check_bandwidth(b)
    return _tensor(_lie_learn_quadrature_weights(b), dtype, device)


def s2_quadrature_weights(b: int, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Quadrature weights :math:`q_j = 2b\, w_j` on β for the normalised area of S² (:math:`\int 1\, dx / 4\pi = 1`).

    .. math:: \frac{1}{4\pi}\int_{S^2} f(x)\, dx \approx \sum_{j,k} q_j f(\beta_j, \alpha_k)

    Examples
    --------
    >>> q = s2_quadrature_weights(8)
    >>> bool(abs(q.sum() * 16 - 1) < 1e-12)
    True
    """
    return 2 * b * so3_quadrature_weights(b, dtype, device)


def _rings(max_beta: float, n_beta: int) -> np.ndarray:
    # n_beta rings at max_beta * (1/n, 2/n, ..., 1): the pole itself is never a kernel point.
    return np.arange(1, n_beta + 1, dtype=np.float64) * max_beta / n_beta


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def s2_near_identity_grid(max_beta: float = math.pi / 8, n_alpha: int = 8, n_beta: int = 3) -> torch.Tensor:
    r"""Kernel points on S² in rings around the north pole, shape ``(n_beta * n_alpha, 2)``, columns ``(beta, alpha)``.

    .. math:: \beta_i = \frac{i}{n_\beta}\,\beta_{\max}\ (i = 1..n_\beta), \qquad
              \alpha_k = \frac{2\pi k}{n_\alpha}\ (k = 0..n_\alpha - 1)

    Examples
    --------
    >>> s2_near_identity_grid().shape
    torch.Size([24, 2])
    """
    _check_counts(n_alpha=n_alpha, n_beta=n_beta)
    beta = _rings(max_beta, n_beta)
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    B, A = np.meshgrid(beta, alpha, indexing="ij")
    return _tensor(np.stack([B.ravel(), A.ravel()], axis=1), torch.float64, None)


def s2_equatorial_grid(max_beta: float = 0.0, n_alpha: int = 32, n_beta: int = 1) -> torch.Tensor:
    r"""Kernel points on S² in rings around the equator, β in :math:`[\pi/2 - \beta_{\max}, \pi/2 + \beta_{\max}]`."""
    _check_counts(n_alpha=n_alpha, n_beta=n_beta)
    beta = np.linspace(np.pi / 2 - max_beta, np.pi / 2 + max_beta, n_beta, endpoint=True)
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    B, A = np.meshgrid(beta, alpha, indexing="ij")
    return _tensor(np.stack([B.ravel(), A.ravel()], axis=1), torch.float64, None)


def _warn_gimbal(grid: np.ndarray) -> None:
    if np.sum(grid[:, 0] == 0) > 1:
        warnings.warn("kernel grid has several points at beta = 0, where (alpha, gamma) are degenerate", stacklevel=3)


def so3_near_identity_grid(
    max_beta: float = math.pi / 8,
    max_gamma: float = 2 * math.pi,
    n_alpha: int = 8,
    n_beta: int = 3,
    n_gamma: int | None = None,
) -> torch.Tensor:
    r"""Kernel points on SO(3) in rings around the identity, shape ``(n_beta * n_alpha * n_gamma, 3)``.

    Columns ``(beta, alpha, gamma)`` with :math:`\gamma = \gamma' - \alpha`, :math:`\gamma'` in
    ``linspace(-max_gamma, max_gamma, n_gamma)`` (endpoints included), so that
    :math:`R = R_z(\alpha) R_y(\beta) R_z(-\alpha) R_z(\gamma')` stays within angle β of :math:`R_z(\gamma')`.
    This is s2cnn's definition (``n_gamma`` defaults to ``n_alpha``); with ``max_gamma = 2π`` the two endpoints name the
    same rotation, which the published networks (and their parameter counts) include.

    Examples
    --------
    >>> so3_near_identity_grid().shape
    torch.Size([192, 3])
    """
    if n_gamma is None:
        n_gamma = n_alpha
    _check_counts(n_alpha=n_alpha, n_beta=n_beta, n_gamma=n_gamma)
    beta = _rings(max_beta, n_beta)
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    pre_gamma = np.linspace(-max_gamma, max_gamma, n_gamma, endpoint=True)
    B, A, G = np.meshgrid(beta, alpha, pre_gamma, indexing="ij")
    grid = np.stack([B.ravel(), A.ravel(), (G - A).ravel()], axis=1)
    _warn_gimbal(grid)
    return _tensor(grid, torch.float64, None)


def so3_equatorial_grid(
    max_beta: float = 0.0,
    max_gamma: float = math.pi / 8,
    n_alpha: int = 32,
    n_beta: int = 1,
    n_gamma: int = 2,
) -> torch.Tensor:
    r"""Kernel points on SO(3) around the equator: β near π/2, all α, γ in
    ``linspace(-max_gamma, max_gamma, n_gamma)``."""
    _check_counts(n_alpha=n_alpha, n_beta=n_beta, n_gamma=n_gamma)
    beta = np.linspace(np.pi / 2 - max_beta, np.pi / 2 + max_beta, n_beta, endpoint=True)
    alpha = np.linspace(0, 2 * np.pi, n_alpha, endpoint=False)
    gamma = np.linspace(-max_gamma, max_gamma, n_gamma, endpoint=True)
    B, A, G = np.meshgrid(beta, alpha, gamma, indexing="ij")
    grid = np.stack([B.ravel(), A.ravel(), G.ravel()], axis=1)
    _warn_gimbal(grid)
    return _tensor(grid, torch.float64, None)
