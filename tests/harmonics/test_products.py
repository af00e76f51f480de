"""Spectral products and point-set spectra against per-degree loops and explicit Wigner-D sums."""

from __future__ import annotations

import pytest
import torch

from sphere_study.harmonics import (
    S2PointSpectrum,
    SO3PointSpectrum,
    rotation_matrix,
    s2_mm,
    s2_near_identity_grid,
    s2_nspec,
    so3_equatorial_grid,
    so3_mm,
    so3_near_identity_grid,
    so3_nspec,
    so3_sum_n,
    so3_to_s2_mm,
    wigner_D,
)

TOL = 1e-12  # float64, relative to the largest entry


def per_degree(x: torch.Tensor, b: int, space: str) -> list[torch.Tensor]:
    out, start = [], 0
    for l in range(b):
        size = 2 * l + 1 if space == "s2" else (2 * l + 1) ** 2
        block = x[..., start : start + size]
        out.append(block if space == "s2" else block.unflatten(-1, (2 * l + 1, 2 * l + 1)))
        start += size
    return out


def close(a, b) -> bool:
    return bool((a - b).abs().max() <= TOL * b.abs().max())


@pytest.mark.parametrize("b", [1, 3, 7])
def test_s2_mm(b):
    x = torch.randn(2, 3, s2_nspec(b), dtype=torch.complex128)
    y = torch.randn(3, 4, s2_nspec(b), dtype=torch.complex128)
    expected = torch.cat(
        [
            torch.einsum("bcm,con->bomn", xl, yl.conj()).flatten(-2)
            for xl, yl in zip(per_degree(x, b, "s2"), per_degree(y, b, "s2"), strict=True)
        ],
        -1,
    )
    assert close(s2_mm(x, y), expected)


@pytest.mark.parametrize("b", [1, 3, 7])
def test_so3_mm_and_projection(b):
    x = torch.randn(2, 3, so3_nspec(b), dtype=torch.complex128)
    y = torch.randn(3, 4, so3_nspec(b), dtype=torch.complex128)
    blocks = [
        torch.einsum("bcmk,conk->bomn", xl, yl.conj())
        for xl, yl in zip(per_degree(x, b, "so3"), per_degree(y, b, "so3"), strict=True)
    ]
    expected = torch.cat([z.flatten(-2) for z in blocks], -1)
    assert close(so3_mm(x, y), expected)
    summed = torch.cat([z.sum(-1) for z in blocks], -1)  # sum over n, the kernel's index
    assert close(so3_sum_n(expected), summed)
    assert close(so3_to_s2_mm(x, y), summed)


def test_products_reject_mismatched_inputs():
    x = torch.randn(2, 3, so3_nspec(4), dtype=torch.complex128)
    with pytest.raises(ValueError, match="bandwidth mismatch"):
        so3_mm(x, torch.randn(3, 4, so3_nspec(5), dtype=torch.complex128))
    with pytest.raises(ValueError, match="equal C_in"):
        so3_mm(x, torch.randn(2, 4, so3_nspec(4), dtype=torch.complex128))
    with pytest.raises(ValueError, match="b\\^2"):
        s2_mm(torch.randn(2, 3, 10, dtype=torch.complex128), torch.randn(3, 4, 10, dtype=torch.complex128))


@pytest.mark.parametrize(
    "grid",
    [so3_near_identity_grid(max_beta=0.6, n_alpha=3, n_beta=2, n_gamma=2), so3_equatorial_grid(n_alpha=5, n_gamma=2)],
    ids=["near_identity", "equatorial"],
)
def test_so3_point_spectrum(grid):
    """psi^l_mn = sum_p w_p conj(D^l_mn(g_p)), checked with explicit Wigner-D matrices; tolerance 1e-12."""
    b = 5
    w = torch.randn(4, len(grid), dtype=torch.float64)
    expected = torch.zeros(4, so3_nspec(b), dtype=torch.complex128)
    for p, (beta, alpha, gamma) in enumerate(grid.tolist()):
        D = wigner_D(b, rotation_matrix(alpha, beta, gamma))
        expected += w[:, p : p + 1] * torch.cat([Dl.conj().flatten() for Dl in D])
    assert close(SO3PointSpectrum(grid, b)(w), expected)


def test_s2_point_spectrum():
    b = 6
    grid = s2_near_identity_grid(max_beta=0.5, n_alpha=5, n_beta=2)
    w = torch.randn(3, len(grid), dtype=torch.float64)
    expected = torch.zeros(3, s2_nspec(b), dtype=torch.complex128)
    for p, (beta, alpha) in enumerate(grid.tolist()):
        D = wigner_D(b, rotation_matrix(alpha, beta, 0.0))
        expected += w[:, p : p + 1] * torch.cat([Dl[:, l].conj() for l, Dl in enumerate(D)])
    assert close(S2PointSpectrum(grid, b)(w), expected)


def test_point_spectrum_bad_input():
    with pytest.raises(ValueError, match=r"\[n_points, 3\]"):
        SO3PointSpectrum(torch.zeros(4, 2), 3)
    with pytest.raises(ValueError, match=r"beta .* \[0, pi\]"):
        S2PointSpectrum([[4.0, 0.0]], 3)
    with pytest.raises(ValueError, match=r"\[\.\.\., 24\]"):
        S2PointSpectrum(s2_near_identity_grid(), 3)(torch.zeros(2, 23))
