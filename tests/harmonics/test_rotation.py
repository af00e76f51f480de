"""Rotations: Euler angles, Haar sampling, and rotating signals through their spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from sphere_study.harmonics import (
    euler_angles,
    random_rotation,
    rotation_matrix,
    s2_evaluate,
    s2_fft,
    s2_grid_points,
    s2_ifft,
    s2_nspec,
    s2_rotate,
    s2_rotate_spectrum,
    so3_evaluate,
    so3_fft,
    so3_ifft,
    so3_nspec,
    so3_rotate,
    so3_soft_grid,
)


def test_euler_round_trip_including_poles():
    """rotation_matrix(euler_angles(R)) == R for random rotations and for beta = 0 and pi; tolerance 1e-12."""
    R = random_rotation(200, generator=torch.Generator().manual_seed(0))
    poles = torch.stack([rotation_matrix(0.3, 0.0, 0.5), rotation_matrix(-1.0, math.pi, 2.0)])
    for Rs in (R, poles):
        assert (rotation_matrix(*euler_angles(Rs)) - Rs).abs().max() <= 1e-12


def test_random_rotations_are_haar():
    """Uniformity on SO(3) at significance 0.01 (fixed seed): the rotation angle has density (1 - cos t)/pi on
    [0, pi], and a rotated axis is uniform on S^2 (z-component uniform on [-1, 1]); KS tests."""
    R = random_rotation(20000, generator=torch.Generator().manual_seed(1))
    angle = torch.arccos(((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)).numpy()
    cdf = lambda t: (t - np.sin(t)) / np.pi  # noqa: E731
    assert stats.kstest(angle, cdf).pvalue > 0.01
    assert stats.kstest(R[:, 2, 0].numpy(), stats.uniform(-1, 2).cdf).pvalue > 0.01
    assert torch.linalg.det(R).sub(1).abs().max() <= 1e-12


def test_random_rotation_reproducible():
    a = random_rotation(5, generator=torch.Generator().manual_seed(7))
    b = random_rotation(5, generator=torch.Generator().manual_seed(7))
    c = random_rotation(5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def _random_bandlimited(space, b, batch=2):
    n = s2_nspec(b) if space == "s2" else so3_nspec(b)
    xhat = torch.randn(batch, n, dtype=torch.complex128)
    return (s2_ifft if space == "s2" else so3_ifft)(xhat, real=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_s2_rotation_matches_pointwise_evaluation(seed):
    """(L_R f)(x) = f(R^{-1} x) at every grid point, for random (off-grid) rotations; tolerance 1e-11 relative."""
    b = 6
    f = _random_bandlimited("s2", b)
    R = random_rotation(generator=torch.Generator().manual_seed(seed))
    points = s2_grid_points(b).reshape(-1, 3) @ R  # rows are R^{-1} x = R^T x
    beta = torch.arccos(points[:, 2].clamp(-1, 1))
    alpha = torch.atan2(points[:, 1], points[:, 0])
    expected = s2_evaluate(s2_fft(f), beta, alpha).real.reshape(f.shape)
    assert (s2_rotate(f, R) - expected).abs().max() <= 1e-11 * f.abs().max()


@pytest.mark.parametrize("seed", [0, 1])
def test_so3_rotation_matches_pointwise_evaluation(seed):
    """(L_Q f)(R) = f(Q^{-1} R) on the grid for random (off-grid) Q; tolerance 1e-11 relative."""
    b = 4
    f = _random_bandlimited("so3", b)
    Q = random_rotation(generator=torch.Generator().manual_seed(seed))
    beta, alpha, gamma = so3_soft_grid(b)
    grid = rotation_matrix(alpha[None, :, None], beta[:, None, None], gamma[None, None, :])
    a, be, g = euler_angles(Q.T @ grid)
    expected = so3_evaluate(so3_fft(f), be.flatten(), a.flatten(), g.flatten()).real.reshape(f.shape)
    assert (so3_rotate(f, Q) - expected).abs().max() <= 1e-11 * f.abs().max()


def test_rotation_composes():
    """L_{R1} L_{R2} = L_{R1 R2} on spectra; tolerance 1e-12."""
    R1, R2 = random_rotation(2, generator=torch.Generator().manual_seed(4))
    xhat = s2_fft(_random_bandlimited("s2", 5))
    assert (
        s2_rotate_spectrum(s2_rotate_spectrum(xhat, R2), R1) - s2_rotate_spectrum(xhat, R1 @ R2)
    ).abs().max() <= 1e-12


def test_z_rotation_by_grid_step_is_a_roll():
    """A rotation about z by one grid step equals rolling the alpha axis, for S² and SO(3); tolerance 1e-12."""
    b = 5
    R = rotation_matrix(2 * math.pi / (2 * b), 0.0, 0.0)
    f = _random_bandlimited("s2", b)
    assert (s2_rotate(f, R) - torch.roll(f, 1, dims=-1)).abs().max() <= 1e-12
    g = _random_bandlimited("so3", b)
    assert (so3_rotate(g, R) - torch.roll(g, 1, dims=-2)).abs().max() <= 1e-12


def test_bad_rotations():
    with pytest.raises(ValueError, match=r"\[3, 3\]"):
        s2_rotate(torch.zeros(8, 8), torch.eye(4))
    with pytest.raises(ValueError, match="rotation matrix"):
        s2_rotate(torch.zeros(8, 8), 2 * torch.eye(3))
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        euler_angles(torch.zeros(3, 2))
