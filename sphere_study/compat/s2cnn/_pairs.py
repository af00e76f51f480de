r"""s2cnn's array layouts and sphere-study's, and the conversions between them.

s2cnn predates complex tensors: a complex array is a real one with a trailing axis of length 2 (real part, imaginary
part), and its spectra put the spectral axis *first*, ``[nspec, ..., 2]``. sphere-study's spectra are complex tensors
with the spectral axis *last*, ``[..., nspec]``. Both order the coefficients the same way (degree l, then m, then n,
each from -l to l; index :math:`l^2 + m + l` on S², :math:`l(4l^2-1)/3 + (m+l)(2l+1) + n + l` on SO(3)) and both
normalise the transforms the same way (checked against the original on identical inputs), so a conversion is a
permutation of axes and nothing else.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

__all__ = ["pairs_to_complex", "complex_to_pairs", "spectrum_from_pairs", "spectrum_to_pairs", "degree_factor"]


def _check_pairs(x, what: str) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1 or x.shape[-1] != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a real tensor whose last axis has length 2 (real, imaginary), got {shape}")


def pairs_to_complex(x: torch.Tensor, what: str) -> torch.Tensor:
    """``[..., 2]`` real pairs -> complex ``[...]`` (differentiable)."""
    _check_pairs(x, what)
    return torch.complex(x[..., 0], x[..., 1])


def complex_to_pairs(z: torch.Tensor) -> torch.Tensor:
    """Complex ``[...]`` -> contiguous ``[..., 2]`` real pairs."""
    return torch.stack((z.real, z.imag), dim=-1)


def spectrum_from_pairs(x: torch.Tensor, what: str) -> torch.Tensor:
    """s2cnn spectrum ``[nspec, ..., 2]`` -> sphere-study spectrum ``[..., nspec]`` (complex)."""
    return pairs_to_complex(x, what).movedim(0, -1)


def spectrum_to_pairs(z: torch.Tensor) -> torch.Tensor:
    """sphere-study spectrum ``[..., nspec]`` (complex) -> s2cnn spectrum ``[nspec, ..., 2]``, contiguous."""
    return complex_to_pairs(z.movedim(-1, 0)).contiguous()


@lru_cache(maxsize=64)
def _degree_factor(space: str, b: int) -> np.ndarray:
    l = np.arange(b)
    return np.repeat(2.0 * l + 1, 2 * l + 1 if space == "s2" else (2 * l + 1) ** 2)


def degree_factor(space: str, b: int, like: torch.Tensor) -> torch.Tensor:
    """:math:`2l+1` for every spectral index of bandwidth ``b`` (``space`` ``"s2"`` or ``"so3"``), real, as ``like``."""
    real = like.real if like.is_complex() else like
    return torch.as_tensor(_degree_factor(space, b), dtype=real.dtype, device=like.device)
