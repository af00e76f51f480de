r"""s2cnn's SO(3) Fourier transforms (``s2cnn.soft.so3_fft``) on :func:`sphere_study.harmonics.so3_fft` / ``so3_ifft``.

Layouts as in s2cnn: grid signals ``[..., 2b, 2b, 2b]`` (β, α, γ), complex ones with a trailing pair axis
``[..., 2b, 2b, 2b, 2]``; spectra ``[l*m*n, ..., 2]``, spectral axis first, index
:math:`l(4l^2-1)/3 + (m+l)(2l+1) + (n+l)`:

.. math:: \hat f^l_{mn} = \sum_{j,k,t} w_j\, f(\beta_j, \alpha_k, \gamma_t)\, \overline{D^l_{mn}(\alpha_k, \beta_j,
          \gamma_t)}, \qquad f = \sum_{l} (2l+1) \sum_{m,n} \hat f^l_{mn} D^l_{mn}

(``for_grad=True``: the adjoint weighting, see :mod:`._transforms`).

Difference to know: for ``b_out > b_in`` the original's forward transform also fills the degrees
:math:`b_{in} \le l < b_{out}` with aliased values (sums of the grid against Wigner functions the grid cannot resolve);
here those degrees are zero, the spectrum of the band-limited interpolant. Degrees below ``b_in`` agree.
"""

from __future__ import annotations

import torch

from ._transforms import analysis, synthesis

__all__ = ["so3_fft", "so3_rfft", "so3_ifft", "so3_rifft", "SO3_fft_real", "SO3_ifft_real"]


def so3_fft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Complex signal ``[..., 2b, 2b, 2b, 2]`` -> spectrum ``[nspec(b_out), ..., 2]``."""
    return analysis(x, "so3", for_grad, b_out, "so3_fft input [..., beta, alpha, gamma, complex]", pairs=True)


def so3_rfft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Real signal ``[..., 2b, 2b, 2b]`` -> spectrum ``[nspec(b_out), ..., 2]``."""
    return analysis(x, "so3", for_grad, b_out, "so3_rfft input [..., beta, alpha, gamma]", pairs=False)


def so3_ifft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Spectrum ``[nspec, ..., 2]`` -> complex signal ``[..., 2b_out, 2b_out, 2b_out, 2]``."""
    return synthesis(x, "so3", for_grad, b_out, "so3_ifft input [l*m*n, ..., complex]", real=False)


def so3_rifft(x: torch.Tensor, for_grad: bool = False, b_out: int | None = None) -> torch.Tensor:
    """Spectrum ``[nspec, ..., 2]`` -> the real part of its synthesis, ``[..., 2b_out, 2b_out, 2b_out]``."""
    return synthesis(x, "so3", for_grad, b_out, "so3_rifft input [l*m*n, ..., complex]", real=True)


class SO3_fft_real:
    """s2cnn's autograd function ``SO3_fft_real.apply(x, b_out=None)`` = :func:`so3_rfft`.

    Gradients come from autograd through sphere-study's transforms (which implement the same adjoint).
    """

    @staticmethod
    def apply(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
        return so3_rfft(x, b_out=b_out)


class SO3_ifft_real:
    """s2cnn's autograd function ``SO3_ifft_real.apply(x, b_out=None)`` = :func:`so3_rifft` (autograd gradients)."""

    @staticmethod
    def apply(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
        return so3_rifft(x, b_out=b_out)
