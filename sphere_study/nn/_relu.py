r"""ReLU for large feature grids whose backward keeps a one-byte mask instead of the output.

.. math:: y = \max(x, 0), \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,[x > 0].

``torch.relu`` keeps its float output for the backward pass. The S2CNNs' ReLUs act on SO(3) grids, the largest
tensors the networks store (about 100 MB per layer for the 204k segmenter at b = 50 and batch 4); the mask
:math:`[x > 0]` as ``torch.bool`` holds the same information in a quarter of the memory. Values and gradients are
those of ``torch.relu`` exactly. Pointwise, so equivariant like any pointwise map on the grid.
"""

from __future__ import annotations

import torch

__all__ = ["mask_relu"]


class _MaskReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        mask = x > 0
        ctx.save_for_backward(mask)
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (mask,) = ctx.saved_tensors
        return grad * mask  # differentiable in grad: double backward works


def mask_relu(x: torch.Tensor) -> torch.Tensor:
    """``torch.relu(x)``, keeping only the bool mask ``x > 0`` for backward (see the module docstring)."""
    return _MaskReLU.apply(x)
