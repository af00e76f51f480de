r"""``so3_sum_n`` of Gerken et al.'s s2cnn fork: an SO(3) spectrum summed over its second order index."""

from __future__ import annotations

import torch

from ... import harmonics as _h
from ._pairs import spectrum_from_pairs, spectrum_to_pairs

__all__ = ["so3_sum_n"]


def so3_sum_n(x: torch.Tensor) -> torch.Tensor:
    r"""``[l*m*n, batch, f, 2]`` -> ``[l*m, batch, f, 2]``, :math:`z^l_m = \sum_n x^l_{mn}`
    (:func:`sphere_study.harmonics.so3_sum_n`)."""
    return spectrum_to_pairs(_h.so3_sum_n(spectrum_from_pairs(x, "so3_sum_n input")))
