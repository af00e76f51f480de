r"""s2cnn's ``S2Convolution`` (``s2cnn.soft.s2_conv``) on :class:`sphere_study.nn.S2Conv`."""

from __future__ import annotations

import math

from ....nn import S2Conv
from ._parameters import S2cnnParameters

__all__ = ["S2Convolution"]


class S2Convolution(S2cnnParameters, S2Conv):
    r"""s2cnn's ``S2Convolution(nfeature_in, nfeature_out, b_in, b_out, grid)``: S² ``[B, C_in, 2b_in, 2b_in]`` ->
    SO(3) ``[B, C_out, 2b_out, 2b_out, 2b_out]``.

    Parameters as in s2cnn, so its ``state_dict`` loads with ``strict=True``: ``kernel`` ``[C_in, C_out, P]`` drawn
    from U(-1, 1), ``bias`` ``[1, C_out, 1, 1, 1]`` (zeros); and ``scaling`` :math:`= 1/\sqrt{P C_{in}
    b_{out}^4 / b_{in}^2}`. The output is s2cnn's, :math:`y(R) = \texttt{scaling}\cdot 2b_{out} \sum_{c,p}
    \texttt{kernel}_{cop} f_c(R x_p) + \texttt{bias}` (the 2b_out is s2cnn's ``s2_rft`` scale).

    Unlike the original, ``b_out > b_in`` is allowed (the degrees >= b_in are zero) and a wrong input raises a
    ``ValueError`` naming the expected shape.
    """

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid, init="s2cnn")
        scaling = 1.0 / math.sqrt(len(grid) * nfeature_in * (b_out**4.0) / (b_in**2.0))
        self._use_s2cnn_parameters(grid, scaling, factor=2.0 * b_out, output_grid_dims=3)
