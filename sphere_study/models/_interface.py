r"""The interface every model of the study exposes, and the input check they share.

Training code (tasks, callbacks, the equivariance tooling) treats models uniformly through four attributes:

* ``bandwidth`` — the input bandwidth b; the input is a ``[B, in_channels, 2b, 2b]`` equiangular (SOFT) image;
* ``in_channels`` — number of input channels;
* ``num_classes`` — number of output classes;
* ``output_kind`` — ``"logits"``: class logits ``[B, num_classes]``, meant to be rotation invariant;
  ``"s2_logits"``: per-pixel logits on the sphere ``[B, num_classes, 2b, 2b]``, meant to be rotation equivariant.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MODEL_INTERFACE", "OUTPUT_KINDS", "check_model_interface", "check_s2_image"]

#: Values of ``model.output_kind``: invariant class logits, or a per-pixel logit map on S².
OUTPUT_KINDS = ("logits", "s2_logits")

#: Attributes that every model exposes (see the module docstring).
MODEL_INTERFACE = ("bandwidth", "in_channels", "num_classes", "output_kind")


def check_model_interface(model: nn.Module) -> nn.Module:
    r"""Return ``model`` unchanged if it exposes the model interface, else raise ``ValueError`` naming what is missing.

    Checks that ``model`` is an ``nn.Module`` with positive integer ``bandwidth``, ``in_channels`` and
    ``num_classes`` and an ``output_kind`` in :data:`OUTPUT_KINDS`.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"a model must be a torch.nn.Module, got {type(model).__name__}")
    name = type(model).__name__
    missing = [attr for attr in MODEL_INTERFACE if not hasattr(model, attr)]
    if missing:
        raise ValueError(
            f"{name} does not expose the model interface: missing attribute(s) {missing}; every model needs "
            f"{list(MODEL_INTERFACE)} (see sphere_study.models)"
        )
    for attr in ("bandwidth", "in_channels", "num_classes"):
        value = getattr(model, attr)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}.{attr} must be a positive integer, got {value!r}")
    if model.output_kind not in OUTPUT_KINDS:
        raise ValueError(f"{name}.output_kind must be one of {OUTPUT_KINDS}, got {model.output_kind!r}")
    return model


def check_s2_image(x: torch.Tensor, *, bandwidth: int, in_channels: int, what: str) -> None:
    r"""Check that ``x`` is a floating ``[B, in_channels, 2b, 2b]`` image for ``b = bandwidth``.

    Raises ``ValueError`` naming the expected and the actual shape (or dtype); ``what`` names the receiver in the
    message, e.g. ``"CNNSegmenter input"``.
    """
    expected = f"[B, {in_channels}, {2 * bandwidth}, {2 * bandwidth}] (batch, channels, beta, alpha; b = {bandwidth})"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    shape = tuple(x.shape)
    if x.dim() != 4:
        raise ValueError(f"{what} must have shape {expected}; got {x.dim()} dimension(s), shape {shape}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{what} must have {in_channels} channel(s), shape {expected}; got shape {shape}")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{what} must be square (2b x 2b equiangular grid), shape {expected}; got shape {shape}")
    if x.shape[-1] != 2 * bandwidth:
        raise ValueError(
            f"{what} has spatial size {x.shape[-2]}x{x.shape[-1]} (bandwidth {x.shape[-1] / 2:g}) but the model was "
            f"built for bandwidth {bandwidth}: expected shape {expected}, got {shape}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{what} must have a floating dtype, got {x.dtype}: cast with .float() first")
