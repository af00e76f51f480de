r"""s2cnn's ``so3_mm``: the spectral product of the SO(3) correlation, in s2cnn's layout."""

from __future__ import annotations

import torch

from ... import harmonics as _h
from ._pairs import spectrum_from_pairs, spectrum_to_pairs

__all__ = ["so3_mm"]


def so3_mm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""``x [l*m*n, batch, f_in, 2]``, ``y [l*m*n, f_in, f_out, 2]`` -> ``[l*m*n, batch, f_out, 2]``,
    :math:`z^l = \sum_c x^l[c]\, (y^l[c])^H` per degree (:func:`sphere_study.harmonics.so3_mm`)."""
    z = _h.so3_mm(spectrum_from_pairs(x, "so3_mm x"), spectrum_from_pairs(y, "so3_mm y"))
    return spectrum_to_pairs(z)
