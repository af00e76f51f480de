r"""s2cnn's S² Fourier transforms (``s2cnn.soft.s2_fft``) on :func:`sphere_study.harmonics.s2_fft` / ``s2_ifft``.

Layouts as in s2cnn: complex grid signals ``[..., 2b, 2b, 2]`` (β, α, pair), spectra ``[l*m, ..., 2]``, spectral
axis first, index :math:`l^2 + m + l`:

.. math:: \hat f^l_m = \sum_{j,k} 2b\, w_j\, f(\beta_j, \alpha_k)\, \overline{D^l_{m0}(\alpha_k, \beta_j, 0)},
          \qquad f = \sum_l (2l+1) \sum_m \hat f^l_m D^l_{m0}

(``for_grad=True``: the adjoint weighting, see :mod:`._transforms`). The original refuses ``b_out > b_in`` in
``s2_fft`` and ``b_out < b_in`` in ``s2_ifft``; here the first zero-fills and the second drops the degrees >= b_out.
"""

from __future__ import annotations

import torch

from ._transforms import analysis, synthesis

__all__ = ["s2_fft", "s2_ifft", "S2_fft_real", "S2_ifft_real"]


def s2_fft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Complex signal ``[..., 2b, 2b, 2]`` -> spectrum ``[b_out^2, ..., 2]``."""
    return analysis(x, "s2", for_grad, b_out, "s2_fft input [..., beta, alpha, complex]", pairs=True)


def s2_ifft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Spectrum ``[b^2, ..., 2]`` -> complex signal ``[..., 2b_out, 2b_out, 2]``."""
    return synthesis(x, "s2", for_grad, b_out, "s2_ifft input [l*m, ..., complex]", real=False)


class S2_fft_real:
    """s2cnn's autograd function ``S2_fft_real.apply(x, b_out=None)``: real ``[..., 2b, 2b]`` -> ``[b_out^2, ..., 2]``.

    Gradients come from autograd through sphere-study's transforms.
    """

    @staticmethod
    def apply(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
        return analysis(x, "s2", False, b_out, "S2_fft_real input [..., beta, alpha]", pairs=False)


class S2_ifft_real:
    """s2cnn's autograd function ``S2_ifft_real.apply(x, b_out=None)``: ``[b^2, ..., 2]`` -> real ``[..., 2b, 2b]``."""

    @staticmethod
    def apply(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
        return synthesis(x, "s2", False, b_out, "S2_ifft_real input [l*m, ..., complex]", real=True)
