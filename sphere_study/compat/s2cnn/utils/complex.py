r"""s2cnn's complex-pair helpers: a complex array is a real one with a trailing axis ``[..., 2]`` (real, imaginary)."""

from __future__ import annotations

import torch

from .._pairs import complex_to_pairs, pairs_to_complex

__all__ = ["as_complex", "complex_mm", "complex_sum"]


def as_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``x [...]`` -> ``[..., 2]`` with imaginary part 0."""
    return torch.stack((x, torch.zeros_like(x)), dim=-1)


def complex_mm(x: torch.Tensor, y: torch.Tensor, conj_x: bool = False, conj_y: bool = False) -> torch.Tensor:
    r"""Matrix product of complex pairs ``x [M, K, 2]`` and ``y [K, N, 2]`` -> ``[M, N, 2]``, optionally of their
    conjugates: :math:`z = \bar x^{[conj\_x]}\, \bar y^{[conj\_y]}`."""
    xc, yc = pairs_to_complex(x, "complex_mm x"), pairs_to_complex(y, "complex_mm y")
    if xc.dim() != 2 or yc.dim() != 2 or xc.shape[1] != yc.shape[0]:
        raise ValueError(f"complex_mm expects x [M, K, 2] and y [K, N, 2], got {tuple(x.shape)} and {tuple(y.shape)}")
    return complex_to_pairs(torch.mm(xc.conj() if conj_x else xc, yc.conj() if conj_y else yc))


def complex_sum(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Sum of complex pairs ``[..., 2]`` over ``dim`` (Gerken et al.'s fork)."""
    return complex_to_pairs(pairs_to_complex(x, "complex_sum input").sum(dim))
