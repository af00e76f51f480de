r"""s2cnn's ``s2_mm``: the spectral product of the S² correlation, in s2cnn's layout."""

from __future__ import annotations

import torch

from ... import harmonics as _h
from ._pairs import spectrum_from_pairs, spectrum_to_pairs

__all__ = ["s2_mm"]


def s2_mm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""``x [l*m, batch, f_in, 2]``, ``y [l*m, f_in, f_out, 2]`` -> ``[l*m*n, batch, f_out, 2]``,
    :math:`z^l_{mn} = \sum_c x^l_m[c]\, \overline{y^l_n[c]}` (:func:`sphere_study.harmonics.s2_mm`)."""
    z = _h.s2_mm(spectrum_from_pairs(x, "s2_mm x"), spectrum_from_pairs(y, "s2_mm y"))
    return spectrum_to_pairs(z)
