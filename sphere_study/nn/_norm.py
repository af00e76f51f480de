r"""Equivariant batch normalisation for S² and SO(3) feature maps.

Per channel c, the statistics are averages over the batch and over the group (or sphere), Haar-weighted:

.. math:: \mu_c = \mathbb{E}_{batch} \int f_c, \qquad \sigma^2_c = \mathbb{E}_{batch} \int (f_c - \mu_c)^2, \qquad
          y_c = \gamma_c \frac{f_c - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c.

Both statistics are rotation-invariant numbers, so :math:`\text{BN}(L_Q f) = L_Q\, \text{BN}(f)` exactly. (A plain
``BatchNorm3d`` over the grid weighs the poles like the equator and is not invariant.) Running averages are kept for
evaluation as in ``torch.nn.BatchNorm``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._integrate import s2_integrate, so3_integrate

__all__ = ["S2BatchNorm", "SO3BatchNorm"]


class _GroupBatchNorm(nn.Module):
    space: str
    _grid_dims: int

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be >= 1, got {num_features}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.input_space = self.output_space = self.space

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"

    def _integrate(self, x: torch.Tensor) -> torch.Tensor:
        return so3_integrate(x) if self.space == "so3" else s2_integrate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 + self._grid_dims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expects [batch, {self.num_features}, "
                + ", ".join(["2b"] * self._grid_dims)
                + f"], got {tuple(x.shape)}"
            )
        shape = (1, -1) + (1,) * self._grid_dims
        if self.training:
            mean = self._integrate(x).mean(0)
            var = self._integrate((x - mean.view(shape)) ** 2).mean(0)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.to(x.dtype).view(shape) + self.bias.to(x.dtype).view(shape)
        return y


class S2BatchNorm(_GroupBatchNorm):
    """Batch norm for S² maps ``[B, C, 2b, 2b]`` with area-weighted statistics (equivariant)."""

    space, _grid_dims = "s2", 2


class SO3BatchNorm(_GroupBatchNorm):
    """Batch norm for SO(3) maps ``[B, C, 2b, 2b, 2b]`` with Haar-weighted statistics (equivariant)."""

    space, _grid_dims = "so3", 3
