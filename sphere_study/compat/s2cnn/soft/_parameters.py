r"""s2cnn's parameters on sphere-study's correlation layers: ``kernel``, ``bias`` and ``scaling``.

s2cnn keeps a kernel ``[C_in, C_out, P]`` drawn from U(-1, 1) and a constant ``scaling`` outside it, and its kernel
spectra carry a factor of their own: ``s2_rft`` multiplies the S² point sum by 2b_out, ``so3_rft`` does not. The
layer therefore computes :math:`y = \texttt{scaling} \cdot \texttt{factor} \cdot \sum_{c,p} \texttt{kernel}_{cop}
f_c(R g_p) + \texttt{bias}`, which is sphere-study's layer with ``init="s2cnn"`` and
:math:`s = \texttt{scaling} \cdot \texttt{factor}` (checked in the tests, and against the original's outputs in
``tests/compat``).
"""

from __future__ import annotations

import torch
from torch import nn


class S2cnnParameters:
    """Mixin for a subclass of one of sphere-study's correlation layers built with ``init="s2cnn"``."""

    def _use_s2cnn_parameters(self, grid, scaling: float, factor: float, output_grid_dims: int) -> None:
        # The parent drew its weight exactly as s2cnn draws its kernel (torch.empty(...).uniform_(-1, 1), nothing
        # else consumes random numbers), so under one seed both packages start from the same kernel.
        kernel = self._parameters.pop("weight")
        del self._parameters["bias"]
        del self.scale  # replaced by scaling * factor (see scaled_kernel)
        self.kernel = kernel
        self.bias = nn.Parameter(torch.zeros(1, self.out_channels, *([1] * output_grid_dims)))
        self.nfeature_in, self.nfeature_out, self.grid = self.in_channels, self.out_channels, grid
        #: s2cnn's constant factor on the kernel (its value in the original, to the last bit).
        self.scaling = scaling
        #: The factor s2cnn's kernel transform puts on top of the point sum (2 b_out on S², 1 on SO(3)).
        self.spectral_factor = factor

    def scaled_kernel(self, dtype: torch.dtype) -> torch.Tensor:
        return self.kernel.to(dtype) * (self.scaling * self.spectral_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Contiguous like s2cnn's outputs: s2cnn model code calls .view on them (ours are permuted views).
        return super().forward(x).contiguous()
