r"""The four transforms of s2cnn on sphere-study's, with s2cnn's layouts and its ``for_grad`` variants.

s2cnn's transforms have the same normalisation as :mod:`sphere_study.harmonics` (forward: quadrature, so the
spectrum of a constant 1 is 1 at l = 0; inverse: :math:`f = \sum_l (2l+1) \sum \hat f D`). Its ``for_grad=True``
swaps the two weightings, which gives the adjoint of the other transform (what its autograd functions use as the
backward): the analysis weights the Wigner functions by :math:`2l+1` instead of the quadrature weights, the synthesis
by the quadrature weights instead of :math:`2l+1`. Here that is done by dividing the grid signal by the quadrature
weights before our analysis and multiplying by :math:`2l+1` after it (and the converse for the synthesis).
"""

from __future__ import annotations

import torch

from .... import harmonics as _h
from ....harmonics._validation import (
    s2_bandwidth_of_signal,
    s2_bandwidth_of_spectrum,
    so3_bandwidth_of_signal,
    so3_bandwidth_of_spectrum,
)
from .._pairs import complex_to_pairs, degree_factor, pairs_to_complex, spectrum_from_pairs, spectrum_to_pairs

_SPACES = {
    "s2": (_h.s2_fft, _h.s2_ifft, _h.s2_quadrature_weights, s2_bandwidth_of_signal, s2_bandwidth_of_spectrum, 2),
    "so3": (_h.so3_fft, _h.so3_ifft, _h.so3_quadrature_weights, so3_bandwidth_of_signal, so3_bandwidth_of_spectrum, 3),
}


def _beta_weights(space: str, b: int, like: torch.Tensor) -> torch.Tensor:
    """The quadrature weights on β, shaped to broadcast over a grid signal ``[..., beta, alpha(, gamma)]``."""
    weights_of, ndim = _SPACES[space][2], _SPACES[space][5]
    w = weights_of(b, like.real.dtype if like.is_complex() else like.dtype, like.device)
    return w.view(-1, *([1] * (ndim - 1)))


def analysis(x: torch.Tensor, space: str, for_grad: bool, b_out, what: str, pairs: bool) -> torch.Tensor:
    """Grid ``[..., 2b, ...(, 2)]`` -> s2cnn spectrum ``[nspec(b_out), ..., 2]``."""
    fft, _, _, bandwidth_of_signal, _, _ = _SPACES[space]
    x = pairs_to_complex(x, what) if pairs else x
    b = bandwidth_of_signal(x, what)
    if for_grad:
        x = x / _beta_weights(space, b, x)
    z = fft(x, b_out=b_out)
    if for_grad:
        z = z * degree_factor(space, b if b_out is None else b_out, z)
    return spectrum_to_pairs(z)


def synthesis(x: torch.Tensor, space: str, for_grad: bool, b_out, what: str, real: bool) -> torch.Tensor:
    """s2cnn spectrum ``[nspec, ..., 2]`` -> grid ``[..., 2b_out, ..., 2]`` (or its real part)."""
    _, ifft, _, _, bandwidth_of_spectrum, _ = _SPACES[space]
    z = spectrum_from_pairs(x, what)
    b = bandwidth_of_spectrum(z, what)
    if for_grad:
        z = z / degree_factor(space, b, z)
    y = ifft(z, b_out=b_out, real=real)
    if for_grad:
        y = y * _beta_weights(space, b if b_out is None else b_out, y)
    return y.contiguous() if real else complex_to_pairs(y)
