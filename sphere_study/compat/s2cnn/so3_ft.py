r"""s2cnn's ``so3_rft``: the spectrum of weights on a list of rotations (a kernel), in s2cnn's layout."""

from __future__ import annotations

import torch

from ._pairs import spectrum_to_pairs
from ._point_spectra import point_spectrum

__all__ = ["so3_rft"]


def so3_rft(x: torch.Tensor, b: int, grid) -> torch.Tensor:
    r"""Spectrum of weights ``x [..., n_points]`` on ``grid`` (``(beta, alpha, gamma)`` tuples) -> ``[nspec, ..., 2]``.

    .. math:: y^l_{mn} = \sum_p x_p\, \overline{D^l_{mn}(\alpha_p, \beta_p, \gamma_p)}, \qquad l < b

    (:class:`sphere_study.harmonics.SO3PointSpectrum`). With ``grid = so3_soft_grid(b_in)`` and ``x`` the signal times
    the quadrature weights this is the SO(3) Fourier transform, which is how s2cnn's ``tests/so3_fft.py`` checks it.
    """
    return spectrum_to_pairs(point_spectrum("so3", grid, b, x.device)(x))
