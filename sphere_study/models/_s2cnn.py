r"""S2CNN models: the SO(3)-Fourier spherical CNNs of Cohen et al. (2018) and Gerken et al. (2022).

``S2CNNClassifier``: S2Conv → ReLU → (SO3Conv → ReLU)* → :func:`~sphere_study.nn.so3_integrate` → MLP. The
integration makes the logits invariant, :math:`\Phi(L_Q f) = \Phi(f)`.

``S2CNNSegmenter``: S2Conv → ReLU → (SO3Conv → ReLU)* → SO3ToS2, per-pixel logits on the input's S² grid,
equivariant, :math:`\Phi(L_Q f) = L_Q \Phi(f)`.

.. warning:: The ReLUs act pointwise on the SOFT grid and create frequencies above each layer's band limit, which
   alias at the next transform. The networks are therefore exactly equivariant for rotations about z by grid steps
   and approximately equivariant for other rotations; the error shrinks as the bandwidths grow relative to the
   signal's content (``tests/models/test_s2cnn.py`` reports it).

Kernel grids are given as dicts of keyword arguments for the grid functions of :mod:`sphere_study.harmonics`,
with an optional ``kind`` (``"near_identity"``, the default, or ``"equatorial"``), e.g.
``{"max_beta": 0.3927, "n_alpha": 8, "n_beta": 3}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial

import torch
from torch import nn

from ..harmonics import s2_equatorial_grid, s2_near_identity_grid, so3_equatorial_grid, so3_near_identity_grid
from ..nn import (
    S2Conv,
    SO3BatchNorm,
    SO3Conv,
    SO3Shortcut,
    SO3ToS2,
    mask_relu,
    set_product_recomputation,
    so3_integrate,
)
from ._interface import check_s2_image
from ._registry import register_model

__all__ = ["S2CNNClassifier", "S2CNNSegmenter", "kernel_grid"]

_GRIDS = {
    ("s2", "near_identity"): s2_near_identity_grid,
    ("s2", "equatorial"): s2_equatorial_grid,
    ("so3", "near_identity"): so3_near_identity_grid,
    ("so3", "equatorial"): so3_equatorial_grid,
}


def kernel_grid(space: str, spec: Mapping | None) -> torch.Tensor:
    """Build a kernel grid from a dict ``{"kind": ..., **grid_kwargs}`` (``None``: the default near-identity grid)."""
    spec = dict(spec or {})
    kind = spec.pop("kind", "near_identity")
    try:
        fn = _GRIDS[(space, kind)]
    except KeyError:
        raise ValueError(
            f"unknown {space} kernel grid kind {kind!r}; expected 'near_identity' or 'equatorial'"
        ) from None
    try:
        return fn(**spec)
    except TypeError as e:
        raise ValueError(f"bad {space} kernel grid arguments {spec}: {e}") from None


def _per_layer(value, n: int, what: str) -> list:
    """One value per layer: a sequence of length n, or a single value repeated."""
    if isinstance(value, Mapping) or value is None or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{what} must have one entry per SO(3) layer ({n}), got {len(value)}")
    return list(value)


def _check_lengths(features, bandwidths) -> None:
    if len(features) == 0 or len(features) != len(bandwidths):
        raise ValueError(
            f"features and bandwidths need one entry per S2Conv/SO3Conv layer and equal lengths; "
            f"got features={list(features)}, bandwidths={list(bandwidths)}"
        )


class S2CNNClassifier(nn.Module):
    r"""Spherical CNN classifier: invariant logits ``[B, num_classes]`` from S² images ``[B, C, 2b, 2b]``.

    The default is the spherical-MNIST network of Cohen et al.'s code (``S2ConvNet_original``): S2Conv 1→20 at
    b 30→10 on 24 near-identity points (3 rings × 8, max β = π/8), SO3Conv 20→40 at b 10→6 on 192 points
    (3 × 8 × 8), Haar integration, a linear layer to 10 classes: 154,550 parameters.

    Parameters
    ----------
    bandwidth, in_channels, num_classes : the input bandwidth, input channels, classes.
    features, bandwidths : channels and output bandwidth of each correlation layer (the first is the S2Conv).
    s2_grid : kernel grid dict of the S2Conv.
    so3_grids : one kernel grid dict for all SO3Convs, or one per SO3Conv.
    hidden : widths of hidden layers of the MLP head after integration.
    head_batch_norm : ``BatchNorm1d`` before each linear layer of the head (as in s2cnn's ``S2ConvNet_deep``).
    batch_norm : equivariant :class:`~sphere_study.nn.SO3BatchNorm` after each SO3Conv.
    init : ``"s2cnn"`` (default) or ``"he"``, the correlation layers' weight-scale rule (:mod:`sphere_study.nn`).
        The default is the original s2cnn's effective scale, so that this network (``s2cnn_cls_cohen``) trains like
        Cohen et al.'s: side by side on identical data and steps, the He rule learned about 0.1 accuracy slower over
        the first 5 epochs (``scripts/compare_s2cnn_training.py``). ``s2cnn_cls_deep`` uses ``"he"``.
    recompute_products : recompute the layers' spectral products in backward instead of storing their operands
        (:func:`~sphere_study.nn.set_product_recomputation`). Off by default: at b = 30 the spectra are small, and
        the recomputation would only cost time. For the same reason the ReLUs are ``torch.relu``, not the
        segmenter's one-byte-mask :func:`~sphere_study.nn.mask_relu` (which is 7% slower per step here).
    """

    output_kind = "logits"

    def __init__(
        self,
        bandwidth: int = 30,
        in_channels: int = 1,
        num_classes: int = 10,
        features: Sequence[int] = (20, 40),
        bandwidths: Sequence[int] = (10, 6),
        s2_grid: Mapping | None = None,
        so3_grids: Mapping | Sequence[Mapping] | None = None,
        hidden: Sequence[int] = (),
        head_batch_norm: bool = False,
        batch_norm: bool = False,
        init: str = "s2cnn",
        recompute_products: bool = False,
    ):
        super().__init__()
        _check_lengths(features, bandwidths)
        self.bandwidth, self.in_channels, self.num_classes = bandwidth, in_channels, num_classes
        grids = _per_layer(so3_grids, len(features) - 1, "so3_grids")
        layers: list[nn.Module] = [
            S2Conv(in_channels, features[0], bandwidth, bandwidths[0], kernel_grid("s2", s2_grid), init=init)
        ]
        layers.append(nn.ReLU())
        for i, grid in enumerate(grids):
            layers.append(
                SO3Conv(
                    features[i], features[i + 1], bandwidths[i], bandwidths[i + 1], kernel_grid("so3", grid), init=init
                )
            )
            if batch_norm:
                layers.append(SO3BatchNorm(features[i + 1]))
            layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        width = features[-1]
        for h in hidden:
            head += [nn.BatchNorm1d(width)] if head_batch_norm else []
            head += [nn.Linear(width, h), nn.ReLU()]
            width = h
        head += [nn.BatchNorm1d(width)] if head_batch_norm else []
        head.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*head)
        set_product_recomputation(self, recompute_products)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_s2_image(x, bandwidth=self.bandwidth, in_channels=self.in_channels, what="S2CNNClassifier input")
        return self.head(so3_integrate(self.features(x)))


class S2CNNSegmenter(nn.Module):
    r"""Spherical CNN segmenter (Gerken et al. 2022): per-pixel logits ``[B, num_classes, 2b, 2b]``, equivariant.

    S2Conv(in → f₀, b → b₀) → ReLU → [SO3Conv(fᵢ → fᵢ₊₁, bᵢ → bᵢ₊₁) → ReLU]* → SO3ToS2(f_last → classes,
    b_last → b). Kernels are near-identity grids (``n_beta`` rings × ``n_alpha`` azimuths, × ``n_gamma`` for SO(3))
    whose radius ``kernel_max_beta[i]·π`` is set per layer (one entry per layer, output layer included).
    With the defaults — features 11,12,13,14,13,12,11, bandlimits 42,35,27,20,27,35,42, b = 50, 11 classes —
    this is Gerken et al.'s 204,073-parameter model (``s2cnn_seg_204k``).

    ``skips`` adds :class:`~sphere_study.nn.SO3Shortcut` connections around each SO3Conv (added before the ReLU);
    ``batch_norm`` adds :class:`~sphere_study.nn.SO3BatchNorm` after each SO3Conv.
    ``init`` is the correlation layers' weight-scale rule, ``"he"`` by default. s2cnn's rule (``"s2cnn"``, a factor
    :math:`(b_{in}/b_{out})^{3/2}/\sqrt{C_{in}P}` on U(−1, 1) weights per SO3Conv) shrinks the activations about 3×
    per layer at this depth: measured at random init with this shape at b = 16 (bandlimits 14,12,9,7,9,12,14), the
    output RMS is 2e-4 with it and 0.28 with the He rule, whose activations stay between 0.2 and 0.5 (see
    :mod:`sphere_study.nn`).
    The ReLUs keep a one-byte mask for backward: fused into the layers' inverse transforms (``fused_relu``) when
    nothing sits between a layer and its ReLU, else in place (:func:`~sphere_study.nn.mask_relu`); the layers'
    transforms store nothing grid-sized. The 204k model at batch 4 grows the process by about 1 GiB per step
    (``scripts/benchmark_models.py --targets``). ``recompute_products`` (off by default) recomputes each layer's
    kernel spectrum and spectral product in backward instead of storing their operands
    (:func:`~sphere_study.nn.set_product_recomputation`): 0.86 GiB, for 12% more time.
    """

    output_kind = "s2_logits"

    def __init__(
        self,
        bandwidth: int = 50,
        in_channels: int = 1,
        num_classes: int = 11,
        features: Sequence[int] = (11, 12, 13, 14, 13, 12, 11),
        bandwidths: Sequence[int] = (42, 35, 27, 20, 27, 35, 42),
        kernel_max_beta: Sequence[float] = (0.1238, 0.1474, 0.1768, 0.2292, 0.3095, 0.2292, 0.1768, 0.1474),
        n_alpha: int = 8,
        n_beta: int = 3,
        n_gamma: int | None = None,
        skips: bool = False,
        batch_norm: bool = False,
        init: str = "he",
        recompute_products: bool = False,
    ):
        super().__init__()
        _check_lengths(features, bandwidths)
        if len(kernel_max_beta) != len(features) + 1:
            raise ValueError(
                f"kernel_max_beta needs one entry per layer including the output layer ({len(features) + 1}), "
                f"got {len(kernel_max_beta)}"
            )
        self.bandwidth, self.in_channels, self.num_classes = bandwidth, in_channels, num_classes
        s2_grid = s2_near_identity_grid(kernel_max_beta[0] * math.pi, n_alpha, n_beta)
        so3_grid = partial(so3_near_identity_grid, n_alpha=n_alpha, n_beta=n_beta, n_gamma=n_gamma)
        self.input_layer = S2Conv(in_channels, features[0], bandwidth, bandwidths[0], s2_grid, init=init)
        self.hidden_layers = nn.ModuleList(
            SO3Conv(
                features[i],
                features[i + 1],
                bandwidths[i],
                bandwidths[i + 1],
                so3_grid(kernel_max_beta[i + 1] * math.pi),
                init=init,
            )
            for i in range(len(features) - 1)
        )
        self.skip_layers = (
            nn.ModuleList(
                SO3Shortcut(features[i], features[i + 1], bandwidths[i], bandwidths[i + 1], init=init)
                for i in range(len(features) - 1)
            )
            if skips
            else None
        )
        self.norms = (
            nn.ModuleList(SO3BatchNorm(features[i + 1]) for i in range(len(features) - 1)) if batch_norm else None
        )
        self.output_layer = SO3ToS2(
            features[-1], num_classes, bandwidths[-1], bandwidth, so3_grid(kernel_max_beta[-1] * math.pi), init=init
        )
        set_product_recomputation(self, recompute_products)
        # Without batch norm or shortcuts each layer's output goes straight into a ReLU: fuse it into the layer.
        self._fused_relu = not (skips or batch_norm)
        for layer in (self.input_layer, *self.hidden_layers):
            layer.fused_relu = self._fused_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_s2_image(x, bandwidth=self.bandwidth, in_channels=self.in_channels, what="S2CNNSegmenter input")
        x = self._relu(self.input_layer(x))
        for i in range(len(self.hidden_layers)):
            x = self._relu(self._hidden(i, x))
        return self.output_layer(x)

    def _relu(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._fused_relu else mask_relu(x, inplace=True)  # the layers return grids of their own

    def _hidden(self, i: int, x: torch.Tensor) -> torch.Tensor:
        y = self.hidden_layers[i](x)
        if self.norms is not None:
            y = self.norms[i](y)
        if self.skip_layers is not None:
            y = y + self.skip_layers[i](x)
        return y


def _deep_so3_grid(max_beta: float) -> dict:
    return {"max_beta": max_beta, "n_alpha": 6, "n_beta": 1, "max_gamma": 2 * math.pi, "n_gamma": 6}


register_model("s2cnn_cls_cohen", S2CNNClassifier, description="Cohen et al.'s spherical-MNIST S2CNN (154,550 params)")


@register_model("s2cnn_cls_deep")
def s2cnn_cls_deep(bandwidth: int = 30, in_channels: int = 1, num_classes: int = 10) -> S2CNNClassifier:
    """s2cnn's S2ConvNet_deep: 7 correlation layers at b, b/2, b/4, b/8 (30->15->7->3), BN-MLP head."""
    b = bandwidth
    return S2CNNClassifier(
        bandwidth,
        in_channels,
        num_classes,
        features=(8, 16, 16, 24, 24, 32, 64),
        bandwidths=(b, b // 2, b // 2, b // 4, b // 4, b // 8, b // 8),
        s2_grid={"max_beta": math.pi / 16, "n_alpha": 6, "n_beta": 1},
        so3_grids=[_deep_so3_grid(math.pi / d) for d in (16, 8, 8, 4, 4, 2)],
        hidden=(64, 32),
        head_batch_norm=True,
        init="he",  # 7 layers: s2cnn's rule shrinks activations about 3x per layer (see S2CNNSegmenter)
    )


register_model("s2cnn_seg_204k", S2CNNSegmenter, description="Gerken et al.'s S2CNN segmenter (204,073 params, b=50)")


@register_model("s2cnn_seg_122k")
def s2cnn_seg_122k(bandwidth: int = 16, in_channels: int = 1, num_classes: int = 11) -> S2CNNSegmenter:
    """Gerken et al.'s segmenter shape scaled down to fit 2 CPU cores (121,726 params; for inputs b >= 12, made for
    b = 16): features 8,9,10,11,10,9,8 (204k: 11..14..11), bandlimits 12,10,8,6,8,10,12 (204k: 42..20..42 at
    b = 50, about b·(0.8..0.4..0.8) here, as there), the same kernel grids, SO3BatchNorm after each SO3Conv."""
    return S2CNNSegmenter(
        bandwidth,
        in_channels,
        num_classes,
        features=(8, 9, 10, 11, 10, 9, 8),
        bandwidths=(12, 10, 8, 6, 8, 10, 12),
        batch_norm=True,
    )
