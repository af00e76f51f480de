r"""``SO3ToS2`` of Gerken et al.'s s2cnn fork (``s2cnn.soft.so3_to_s2``) on :class:`sphere_study.nn.SO3ToS2`."""

from __future__ import annotations

from ....nn import SO3ToS2 as _SO3ToS2
from ._parameters import S2cnnParameters
from .so3_conv import s2cnn_so3_scaling

__all__ = ["SO3ToS2"]


class SO3ToS2(S2cnnParameters, _SO3ToS2):
    r"""Gerken et al.'s ``SO3ToS2(nfeature_in, nfeature_out, b_in, b_out, grid)``: SO(3) ``[B, C_in, 2b_in, 2b_in,
    2b_in]`` -> S² ``[B, C_out, 2b_out, 2b_out]``.

    Parameters as in the fork's ``so3_to_s2.py``: ``kernel`` ``[C_in, C_out, P]`` from U(-1, 1), ``bias``
    ``[1, C_out, 1, 1]``, and the SO3Convolution's ``scaling`` :math:`1/\sqrt{P C_{in} b_{out}^3 / b_{in}^3}`;
    the fork's transforms add no factor, so the effective scale is ``scaling`` itself (as for SO3Convolution).
    """

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid, init="s2cnn")
        scaling = s2cnn_so3_scaling(len(grid), nfeature_in, b_in, b_out)
        self._use_s2cnn_parameters(grid, scaling, factor=1.0, output_grid_dims=2)
