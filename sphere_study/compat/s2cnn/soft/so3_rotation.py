r"""s2cnn's ``so3_rotation`` (``s2cnn.soft.so3_rotation``) on :func:`sphere_study.harmonics.so3_rotate`."""

from __future__ import annotations

import torch

from .... import harmonics as _h

__all__ = ["so3_rotation"]


def so3_rotation(x: torch.Tensor, alpha: float, beta: float, gamma: float) -> torch.Tensor:
    r"""Rotate SO(3) signals ``[..., 2b, 2b, 2b]`` by :math:`Q = R_z(\alpha)R_y(\beta)R_z(\gamma)`:
    :math:`f \mapsto f(Q^{-1}\,\cdot)` (spectrum multiplied by :math:`\overline{D^l(Q)}` from the left, as in s2cnn)."""
    return _h.so3_rotate(x, _h.rotation_matrix(alpha, beta, gamma))
