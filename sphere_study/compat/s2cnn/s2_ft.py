r"""s2cnn's ``s2_rft``: the spectrum of weights on a list of S² points (a kernel), in s2cnn's layout and scale."""

from __future__ import annotations

import torch

from ._pairs import spectrum_to_pairs
from ._point_spectra import point_spectrum

__all__ = ["s2_rft"]


def s2_rft(x: torch.Tensor, b: int, grid) -> torch.Tensor:
    r"""Spectrum of point weights ``x [..., n_points]`` on ``grid`` (``(beta, alpha)`` tuples) -> ``[b^2, ..., 2]``.

    .. math:: y^l_n = 2b \sum_p x_p\, \overline{D^l_{n0}(\alpha_p, \beta_p, 0)}, \qquad l < b

    The factor 2b is s2cnn's (its S2Convolution relies on it); without it this is
    :class:`sphere_study.harmonics.S2PointSpectrum`, which computes the sum.
    """
    spectrum = point_spectrum("s2", grid, b, x.device)(x)
    return spectrum_to_pairs(spectrum * (2 * b))
