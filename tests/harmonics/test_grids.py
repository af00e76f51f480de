"""SOFT grids, quadrature, kernel grids."""

from __future__ import annotations

import math

import pytest
import torch

from sphere_study.harmonics import (
    s2_equatorial_grid,
    s2_grid_points,
    s2_near_identity_grid,
    s2_quadrature_weights,
    s2_soft_grid,
    so3_equatorial_grid,
    so3_near_identity_grid,
    so3_quadrature_weights,
    so3_soft_grid,
)


@pytest.mark.parametrize("b", [1, 4, 30])
def test_soft_grid_formulas(b):
    beta, alpha = s2_soft_grid(b)
    j = torch.arange(2 * b, dtype=torch.float64)
    assert torch.allclose(beta, math.pi * (2 * j + 1) / (4 * b), atol=0, rtol=1e-15)
    assert torch.allclose(alpha, 2 * math.pi * j / (2 * b), atol=0, rtol=1e-15)
    beta3, alpha3, gamma3 = so3_soft_grid(b)
    assert torch.equal(beta3, beta) and torch.equal(gamma3, alpha3)
    x = s2_grid_points(b)
    assert x.shape == (2 * b, 2 * b, 3) and torch.allclose(x.norm(dim=-1), torch.ones(2 * b, 2 * b, dtype=x.dtype))
    assert torch.allclose(x[..., 2], beta.cos()[:, None].expand(2 * b, 2 * b))


@pytest.mark.parametrize("b", [2, 8, 25])
def test_quadrature_integrates_polynomials_exactly(b):
    """sum_j q_j cos(beta_j)^k = (1/2) int_0^pi cos^k sin = 1/(k+1) (k even), 0 (odd), for k < 2b; tol 1e-12."""
    beta, _ = s2_soft_grid(b)
    q = s2_quadrature_weights(b) * (2 * b)  # per-ring weights (alpha summed)
    for k in range(2 * b - 1):
        expected = 1 / (k + 1) if k % 2 == 0 else 0.0
        assert abs(float((q * beta.cos() ** k).sum()) - expected) <= 1e-12
    assert abs(float(so3_quadrature_weights(b).sum()) * (2 * b) ** 2 - 1) <= 1e-12


def test_kernel_grids_follow_s2cnn():
    g = s2_near_identity_grid()
    assert g.shape == (24, 2)
    assert torch.allclose(g[:, 0].unique(), torch.tensor([1, 2, 3], dtype=torch.float64) * math.pi / 24)
    assert so3_near_identity_grid().shape == (192, 3)
    assert so3_near_identity_grid(n_alpha=6, n_beta=1, n_gamma=6).shape == (36, 3)
    assert s2_equatorial_grid().shape == (32, 2) and torch.allclose(
        s2_equatorial_grid()[:, 0], torch.tensor(math.pi / 2, dtype=torch.float64)
    )
    assert so3_equatorial_grid().shape == (64, 3)


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match="n_alpha must be a positive integer"):
        s2_near_identity_grid(n_alpha=0)
    with pytest.raises(ValueError, match="bandwidth must be an integer"):
        s2_soft_grid(0)
