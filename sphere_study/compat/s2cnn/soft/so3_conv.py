r"""s2cnn's ``SO3Convolution`` and ``SO3Shortcut`` (``s2cnn.soft.so3_conv``) on :class:`sphere_study.nn.SO3Conv`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ....nn import SO3Conv
from ....nn._conv import check_signal
from ._parameters import S2cnnParameters

__all__ = ["SO3Convolution", "SO3Shortcut"]


def s2cnn_so3_scaling(n_points: int, nfeature_in: int, b_in: int, b_out: int) -> float:
    r"""s2cnn's ``scaling`` of the layers with SO(3) input, :math:`1/\sqrt{P C_{in} b_{out}^3 / b_{in}^3}`."""
    return 1.0 / math.sqrt(n_points * nfeature_in * (b_out**3.0) / (b_in**3.0))


class SO3Convolution(S2cnnParameters, SO3Conv):
    r"""s2cnn's ``SO3Convolution(nfeature_in, nfeature_out, b_in, b_out, grid)``: SO(3) -> SO(3).

    Parameters as in s2cnn (``kernel`` ``[C_in, C_out, P]`` from U(-1, 1), ``bias`` ``[1, C_out, 1, 1, 1]``,
    ``scaling`` :math:`= 1/\sqrt{P C_{in} b_{out}^3 / b_{in}^3}`), output
    :math:`y(R) = \texttt{scaling} \sum_{c,p} \texttt{kernel}_{cop} f_c(R g_p) + \texttt{bias}`.

    Difference to know: for ``b_out > b_in`` the original keeps aliased coefficients at the degrees
    :math:`b_{in} \le l < b_{out}` (its forward transform sums the ``b_in`` grid against Wigner functions of degrees
    the grid cannot resolve, and the kernel passes them on). Here those degrees are zero: the output is band-limited
    to ``b_in``, the correlation of the band-limited input, and stays exactly equivariant. The degrees below ``b_in``
    agree with the original's.
    """

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out, grid):
        super().__init__(nfeature_in, nfeature_out, b_in, b_out, grid, init="s2cnn")
        scaling = s2cnn_so3_scaling(len(grid), nfeature_in, b_in, b_out)
        self._use_s2cnn_parameters(grid, scaling, factor=1.0, output_grid_dims=3)


class SO3Shortcut(nn.Module):
    """s2cnn's ``SO3Shortcut(nfeature_in, nfeature_out, b_in, b_out)``: the identity when channels and bandwidth
    agree, else ``conv``, an :class:`SO3Convolution` whose kernel is the identity rotation (state_dict ``conv.kernel``,
    ``conv.bias``). ``b_out > b_in`` is allowed (as in Gerken et al.'s fork)."""

    input_space, output_space = "so3", "so3"

    def __init__(self, nfeature_in, nfeature_out, b_in, b_out):
        super().__init__()
        self.nfeature_in, self.nfeature_out, self.b_in, self.b_out = nfeature_in, nfeature_out, b_in, b_out
        identity = nfeature_in == nfeature_out and b_in == b_out
        self.conv = None if identity else SO3Convolution(nfeature_in, nfeature_out, b_in, b_out, grid=((0, 0, 0),))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            check_signal(x, "so3", self.nfeature_in, self.b_in, "SO3Shortcut")
            return x
        return self.conv(x)
