r"""ReLU for large feature grids whose backward keeps a one-byte mask instead of the output.

.. math:: y = \max(x, 0), \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,[x > 0].

``torch.relu`` keeps its float output for the backward pass. The S2CNNs' ReLUs act on SO(3) grids, the largest
tensors the networks store (about 100 MB per layer for the 204k segmenter at b = 50 and batch 4); the mask
:math:`[x > 0]` as ``torch.bool`` holds the same information in a quarter of the memory. Values and gradients are
those of ``torch.relu`` exactly. Pointwise, so equivariant like any pointwise map on the grid.

``inplace=True`` overwrites the input, as ``torch.nn.functional.relu(x, inplace=True)``: no second grid is allocated
(the segmenters apply it to their layers' outputs, which nothing else keeps).
"""

from __future__ import annotations

import torch

__all__ = ["mask_relu"]


class _MaskReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, inplace: bool) -> torch.Tensor:
        mask = x > 0
        ctx.save_for_backward(mask)
        if inplace:
            ctx.mark_dirty(x)
            return x.relu_()
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        # The mask as the gradient's dtype first: a bool * float product casts element by element, 2.5x slower than
        # the cast followed by a float product; the product then goes into the cast's memory. With create_graph the
        # product stays out of place, differentiable in grad (double backward).
        factor = mask.to(grad.dtype)
        return (grad * factor if grad.requires_grad else factor.mul_(grad)), None


def mask_relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``torch.relu(x)`` (or ``x.relu_()`` with ``inplace=True``), keeping only the bool mask ``x > 0`` for backward
    (see the module docstring)."""
    return _MaskReLU.apply(x, inplace)
