r"""Planar CNN baselines on the 2b×2b equiangular image: a classifier and an encoder–decoder segmenter.

These are the non-equivariant models of the study. They see the sphere through its SOFT grid image
``[B, C, 2b (beta), 2b (alpha)]`` as an ordinary planar image and learn rotations only from (augmented) data.

Both are fully convolutional, so their parameter count does not depend on the bandwidth; the bandwidth they are built
for fixes the input size they accept (and, for the segmenter, the transposed convolutions' output padding).

A convolution with kernel :math:`k`, stride :math:`s` and zero padding :math:`p` (the segmenter uses none) maps a
:math:`d \times d` feature map to side

.. math:: d' = \left\lfloor \frac{d + 2p - k}{s} \right\rfloor + 1,

which must be at least 1, i.e. :math:`d + 2p \ge k`; a stack for which this fails at some layer raises ``ValueError``
at construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import nn
from torch.nn import functional as F

from ._interface import check_s2_image
from ._params import match_width
from ._registry import register_model

__all__ = ["CNNClassifier", "CNNSegmenter"]

Padding = Literal["same", "valid"]
Head = Literal["average", "flatten"]

# Segmentation presets of Gerken et al. (2022), README of github.com/JanEGerken/sem_seg_s2cnn (examples/mnist_sem_seg):
# all with skips, trained on b = 50 input with 1 channel and 11 classes (10 digits + background).
# name: (features, kernel sizes, strides, exact parameter count with 1 input channel and 11 classes).
SEGMENTER_PRESETS: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]] = {
    "cnn_seg_218k": ((13, 15, 22, 31, 141), (5, 3, 9, 7, 3), (1, 1, 1, 1, 2), 218_144),
    "cnn_seg_1m": ((12, 13, 16, 77, 96, 163), (3, 3, 5, 5, 3, 5), (1, 1, 1, 2, 1, 1), 1_042_013),
    "cnn_seg_5p5m": ((12, 15, 16, 85, 141, 191, 1100), (3, 5, 3, 7, 5, 3, 3), (1, 1, 1, 2, 1, 1, 2), 5_519_335),
    # cnn_seg_218k's kernels and strides at widths matched to s2cnn_seg_122k (121,726; cnn_seg_matched)
    "cnn_seg_120k": ((10, 11, 16, 23, 106), (5, 3, 9, 7, 3), (1, 1, 1, 1, 2), 120_077),
}

# Classification presets: one architecture (kernels 5 3 3 3 3, strides 1 2 2 2 2, "same" padding, batch norm, global
# average pooling, linear head) at widths w*(1, 2, 4, 8, 8), w chosen with match_width for b = 30, 1 channel,
# 10 classes. name: (features, exact parameter count, target it was matched to).
CLASSIFIER_KERNEL_SIZES = (5, 3, 3, 3, 3)
CLASSIFIER_STRIDES = (1, 2, 2, 2, 2)
CLASSIFIER_BASE_FEATURES = (1, 2, 4, 8, 8)
CLASSIFIER_PRESETS: dict[str, tuple[tuple[int, ...], int, int]] = {}


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int = 0) -> int:
    r"""Side :math:`\lfloor (d + 2p - k)/s \rfloor + 1` of a convolution's output on a ``size``×``size`` map."""
    return (size + 2 * padding - kernel_size) // stride + 1


class CNNSegmenter(nn.Module):
    r"""Fully convolutional encoder–decoder for per-pixel logits on the 2b×2b equiangular image.

    The architecture of Gerken et al.'s planar baselines (``ConvNet_sem_seg``). With features :math:`f_0..f_{L-1}`,
    kernel sizes :math:`k_i` and strides :math:`s_i`, and feature map sides :math:`d_0 = 2b`,
    :math:`d_{i+1} = \lfloor (d_i - k_i)/s_i \rfloor + 1`:

    * encoder: ``Conv2d`` layer :math:`i` maps :math:`f_{i-1} \to f_i` channels (:math:`f_{-1}` = ``in_channels``),
      kernel :math:`k_i`, stride :math:`s_i`, no padding, then ReLU; the last one's output (side :math:`d_L`) is the
      bottleneck;
    * decoder: ``ConvTranspose2d`` mirrors encoder layers :math:`L-1, \dots, 1`, mapping :math:`f_i \to f_{i-1}`
      back to side :math:`d_i` with output padding :math:`d_i - k_i - (d_{i+1} - 1)s_i = (d_i - k_i) \bmod s_i`,
      then ReLU; an output ``ConvTranspose2d`` :math:`f_0 \to` ``num_classes`` restores side :math:`2b`
      (no ReLU: logits);
    * skips (``use_skips``), for every layer but the first encoder and the output layer, added before the ReLU:
      down, ``MaxPool2d(k_i, s_i)`` then a 1×1 ``Conv2d`` :math:`f_{i-1} \to f_i`; up, a 1×1 ``Conv2d``
      :math:`f_i \to f_{i-1}` then nearest upsampling to side :math:`d_i` (a 1×1 convolution commutes with
      nearest upsampling, so convolving first is the same map at lower cost).

    Parameters (trainable), with :math:`c_{\text{in}}` = ``in_channels``, :math:`n` = ``num_classes``:

    .. math::

        k_0^2 c_\text{in} f_0 + f_0 + \sum_{i=1}^{L-1} \left[(2k_i^2 + 2\,[\text{skips}]) f_{i-1} f_i
        + (1 + [\text{skips}])(f_i + f_{i-1})\right] + k_0^2 f_0 n + n.

    The defaults are the 218k preset, 218,144 parameters. Presets (``build_model(name)``; all with skips,
    1 input channel, 11 classes):

    ================  =============================  ==================  ==================  ==========
    name              features                       kernel sizes        strides             parameters
    ================  =============================  ==================  ==================  ==========
    ``cnn_seg_218k``  13 15 22 31 141                5 3 9 7 3           1 1 1 1 2           218,144
    ``cnn_seg_1m``    12 13 16 77 96 163             3 3 5 5 3 5         1 1 1 2 1 1         1,042,013
    ``cnn_seg_5p5m``  12 15 16 85 141 191 1100       3 5 3 7 5 3 3       1 1 1 2 1 1 2       5,519,335
    ================  =============================  ==================  ==================  ==========

    (Gerken et al. call the second one "1M"; the published architecture has 1,042,013 parameters, 4.2 % more.)

    Parameters
    ----------
    bandwidth : int
        Input bandwidth b; the input is ``[B, in_channels, 2b, 2b]``.
    in_channels : int
        Input channels.
    num_classes : int
        Output classes (per pixel).
    features : sequence of int
        Channels :math:`f_i` of the encoder layers.
    kernel_sizes : sequence of int
        Kernel side :math:`k_i` of each encoder layer (and of its mirrored decoder layer).
    strides : sequence of int
        Stride :math:`s_i` of each encoder layer (and of its mirrored decoder layer).
    use_skips : bool
        Add the max-pool/upsample + 1×1 convolution skips.
    batch_norm : bool
        ``BatchNorm2d`` before every hidden ReLU (after the skip is added), not before the logits. Off in Gerken et
        al.'s presets; on in the b = 16 study's ``cnn_b16`` recipe, where without it the CNN predicts background
        everywhere (mIoU over digits 0.000 after 1,000 steps at three learning rates), as the reduced S2CNN carries
        SO3BatchNorm. Adds :math:`2(\sum_i f_i + \sum_{i<L-1} f_i)` parameters.

    Raises
    ------
    ValueError
        Inconsistent lists, or a bandwidth too small for the stack (a feature map smaller than the next kernel); the
        message names the layer, the sizes and the smallest bandwidth that works.

    Shapes
    ------
    ``[B, in_channels, 2b, 2b]`` → ``[B, num_classes, 2b, 2b]`` logits; ``output_kind = "s2_logits"``.

    Examples
    --------
    >>> from sphere_study.models import count_parameters
    >>> model = CNNSegmenter(bandwidth=16)
    >>> model(torch.zeros(2, 1, 32, 32)).shape, count_parameters(model)
    (torch.Size([2, 11, 32, 32]), 218144)
    """

    output_kind = "s2_logits"

    def __init__(
        self,
        bandwidth: int = 50,
        in_channels: int = 1,
        num_classes: int = 11,
        features: Sequence[int] = (13, 15, 22, 31, 141),
        kernel_sizes: Sequence[int] = (5, 3, 9, 7, 3),
        strides: Sequence[int] = (1, 1, 1, 1, 2),
        use_skips: bool = True,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.bandwidth = _positive_int(bandwidth, "bandwidth")
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.features, self.kernel_sizes, self.strides = _check_stack(features, kernel_sizes, strides)
        self.use_skips = bool(use_skips)
        self.batch_norm = bool(batch_norm)
        paddings = (0,) * len(self.features)
        self.feature_map_sizes = _feature_map_sizes(
            type(self).__name__, self.bandwidth, self.kernel_sizes, self.strides, paddings
        )

        sizes, fs, ks, ss = self.feature_map_sizes, self.features, self.kernel_sizes, self.strides
        depth = len(fs)
        channels_in = (self.in_channels, *fs[:-1])
        self.encoder = nn.ModuleList(nn.Conv2d(channels_in[i], fs[i], ks[i], stride=ss[i]) for i in range(depth))
        # decoder[j] mirrors encoder layer i = depth-1-j (j = 0 .. depth-2): side sizes[i+1] -> sizes[i].
        mirrored = range(depth - 1, 0, -1)
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(
                fs[i],
                fs[i - 1],
                ks[i],
                stride=ss[i],
                output_padding=_output_padding(sizes[i + 1], sizes[i], ks[i], ss[i]),
            )
            for i in mirrored
        )
        self.output_layer = nn.ConvTranspose2d(
            fs[0],
            self.num_classes,
            ks[0],
            stride=ss[0],
            output_padding=_output_padding(sizes[1], sizes[0], ks[0], ss[0]),
        )
        if self.use_skips:
            self.encoder_skips = nn.ModuleList(
                nn.Sequential(nn.MaxPool2d(ks[i], stride=ss[i]), nn.Conv2d(fs[i - 1], fs[i], 1))
                for i in range(1, depth)
            )
            self.decoder_skips = nn.ModuleList(
                nn.Sequential(nn.Conv2d(fs[i], fs[i - 1], 1), nn.Upsample(size=(sizes[i], sizes[i]), mode="nearest"))
                for i in mirrored
            )
        else:
            self.encoder_skips = None
            self.decoder_skips = None
        # Normalisation before each hidden ReLU (the output layer's logits are left alone).
        norm = (lambda c: nn.BatchNorm2d(c)) if self.batch_norm else (lambda c: nn.Identity())  # noqa: E731
        self.encoder_norms = nn.ModuleList(norm(f) for f in fs)
        self.decoder_norms = nn.ModuleList(norm(fs[i - 1]) for i in mirrored)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Per-pixel logits ``[B, num_classes, 2b, 2b]`` of images ``x`` ``[B, in_channels, 2b, 2b]``."""
        check_s2_image(x, bandwidth=self.bandwidth, in_channels=self.in_channels, what=f"{type(self).__name__} input")
        h = F.relu(self.encoder_norms[0](self.encoder[0](x)))
        for i, layer in enumerate(self.encoder[1:]):
            y = layer(h)
            if self.encoder_skips is not None:
                y = y + self.encoder_skips[i](h)
            h = F.relu(self.encoder_norms[i + 1](y))
        for j, layer in enumerate(self.decoder):
            y = layer(h)
            if self.decoder_skips is not None:
                y = y + self.decoder_skips[j](h)
            h = F.relu(self.decoder_norms[j](y))
        return self.output_layer(h)

    def extra_repr(self) -> str:
        return (
            f"bandwidth={self.bandwidth}, in_channels={self.in_channels}, num_classes={self.num_classes}, "
            f"use_skips={self.use_skips}, batch_norm={self.batch_norm}, feature_map_sizes={self.feature_map_sizes}"
        )


class CNNClassifier(nn.Module):
    r"""Planar CNN classifier on the 2b×2b equiangular image: conv stack, global average pooling, linear head.

    Layer :math:`i` is ``Conv2d`` :math:`f_{i-1} \to f_i` (:math:`f_{-1}` = ``in_channels``) with kernel
    :math:`k_i`, stride :math:`s_i` and zero padding :math:`p_i` (``"same"``: :math:`\lfloor k_i/2 \rfloor`, which
    keeps the side at stride 1 and halves it, rounding up, at stride 2; ``"valid"``: 0), then ``BatchNorm2d``
    (``batch_norm``) and ReLU. With ``head="average"`` the last map is averaged over all its pixels and a ``Linear``
    :math:`f_{L-1} \to` ``num_classes`` gives the logits (that head would accept any input size; the model still
    checks the input against its bandwidth, as every model of the study does); with ``head="flatten"`` the whole
    last map, :math:`f_{L-1} d_L^2` values, feeds the linear layer (Cohen et al.'s planar baseline).

    Parameters (trainable), with :math:`c_\text{in}` = ``in_channels``, :math:`n` = ``num_classes``; with batch norm
    a convolution has no bias (the norm's shift replaces it) and the norm adds :math:`2 f_i`:

    .. math:: \sum_i \left(k_i^2 f_{i-1} f_i + f_i + [\text{bn}]\, f_i\right) + f_{L-1} n\, [d_L^2] + n
        \qquad ([d_L^2]: \text{flatten head only}).

    Presets (``build_model(name)``; kernels 5 3 3 3 3, strides 1 2 2 2 2, ``"same"`` padding, batch norm,
    widths :math:`w \cdot (1, 2, 4, 8, 8)` matched to the target with :func:`match_width`; 1 input channel,
    10 classes; on a b = 30 input the feature maps are 60, 60, 30, 15, 8, 4 pixels wide):

    ================  ==========================  ==========  ===============================================
    name              features                    parameters  matched to
    ================  ==========================  ==========  ===============================================
    ``cnn_cls_114k``  11 22 43 87 87              114,137     114,000 (Gerken et al.'s smallest CNN)
    ``cnn_cls_155k``  13 25 51 101 101            154,495     154,550 (the default S2CNN classifier)
    ``cnn_cls_500k``  23 46 91 183 183            501,941     500,000
    ``cnn_cls_2p5m``  51 102 204 409 409          2,498,268   2,500,000
    ================  ==========================  ==========  ===============================================

    The defaults are the ``cnn_cls_155k`` architecture. ``cnn_cls_cohen`` is the planar baseline of Cohen et al.'s code
    (s2cnn's ``examples/mnist/run_classic.py``): two 5×5 convolutions of stride 3 with 32 and 64 channels, ReLU, no
    batch norm, no padding, flattened into a linear layer: on a b = 30 input the maps are 60, 19, 5 pixels wide and
    it has 68,106 parameters.

    Parameters
    ----------
    bandwidth : int
        Input bandwidth b; the input is ``[B, in_channels, 2b, 2b]``.
    in_channels : int
        Input channels.
    num_classes : int
        Output classes.
    features : sequence of int
        Channels :math:`f_i` of the convolutions.
    kernel_sizes : sequence of int
        Kernel sides :math:`k_i`.
    strides : sequence of int
        Strides :math:`s_i`.
    batch_norm : bool
        Batch norm after every convolution.
    padding : {"same", "valid"}
        Zero padding of every convolution.
    head : {"average", "flatten"}
        Global average pooling, or the flattened last map, before the linear layer.

    Raises
    ------
    ValueError
        Inconsistent lists, an unknown padding, or (with ``"valid"`` padding) a bandwidth too small for the stack.

    Shapes
    ------
    ``[B, in_channels, 2b, 2b]`` → ``[B, num_classes]`` logits; ``output_kind = "logits"``.

    Examples
    --------
    >>> model = CNNClassifier(bandwidth=30)
    >>> model(torch.zeros(2, 1, 60, 60)).shape
    torch.Size([2, 10])
    """

    output_kind = "logits"

    def __init__(
        self,
        bandwidth: int = 30,
        in_channels: int = 1,
        num_classes: int = 10,
        features: Sequence[int] = (13, 25, 51, 101, 101),
        kernel_sizes: Sequence[int] = CLASSIFIER_KERNEL_SIZES,
        strides: Sequence[int] = CLASSIFIER_STRIDES,
        batch_norm: bool = True,
        padding: Padding = "same",
        head: Head = "average",
    ) -> None:
        super().__init__()
        self.bandwidth = _positive_int(bandwidth, "bandwidth")
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.features, self.kernel_sizes, self.strides = _check_stack(features, kernel_sizes, strides)
        if padding not in get_args(Padding):
            raise ValueError(f"padding must be one of {get_args(Padding)}, got {padding!r}")
        self.padding = padding
        if head not in get_args(Head):
            raise ValueError(f"head must be one of {get_args(Head)}, got {head!r}")
        self.head_kind = head
        self.batch_norm = bool(batch_norm)
        paddings = tuple(k // 2 for k in self.kernel_sizes) if padding == "same" else (0,) * len(self.kernel_sizes)
        self.feature_map_sizes = _feature_map_sizes(
            type(self).__name__, self.bandwidth, self.kernel_sizes, self.strides, paddings
        )

        layers: list[nn.Module] = []
        channels_in = (self.in_channels, *self.features[:-1])
        for c_in, c_out, k, s, p in zip(
            channels_in, self.features, self.kernel_sizes, self.strides, paddings, strict=True
        ):
            layers.append(nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
        self.features_net = nn.Sequential(*layers)
        width = self.features[-1] * (self.feature_map_sizes[-1] ** 2 if head == "flatten" else 1)
        self.head = nn.Linear(width, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Class logits ``[B, num_classes]`` of images ``x`` ``[B, in_channels, 2b, 2b]``."""
        check_s2_image(x, bandwidth=self.bandwidth, in_channels=self.in_channels, what=f"{type(self).__name__} input")
        z = self.features_net(x)
        return self.head(z.flatten(1) if self.head_kind == "flatten" else z.mean(dim=(-2, -1)))

    def extra_repr(self) -> str:
        return (
            f"bandwidth={self.bandwidth}, in_channels={self.in_channels}, num_classes={self.num_classes}, "
            f"padding={self.padding!r}, head={self.head_kind!r}, feature_map_sizes={self.feature_map_sizes}"
        )


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_stack(
    features: Sequence[int], kernel_sizes: Sequence[int], strides: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    lists = {"features": features, "kernel_sizes": kernel_sizes, "strides": strides}
    for name, values in lists.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {values!r}")
        for value in values:
            _positive_int(value, f"every entry of {name}")
    lengths = {name: len(values) for name, values in lists.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"features, kernel_sizes and strides must have one entry per layer; got lengths {lengths}")
    return tuple(features), tuple(kernel_sizes), tuple(strides)


def _sizes_or_failure(
    side: int, kernel_sizes: Sequence[int], strides: Sequence[int], paddings: Sequence[int]
) -> tuple[list[int], int | None]:
    r"""Feature map sides from ``side`` through the stack, and the index of the first layer that fails (or None)."""
    sizes = [side]
    for i, (k, s, p) in enumerate(zip(kernel_sizes, strides, paddings, strict=True)):
        if sizes[-1] + 2 * p < k:
            return sizes, i
        sizes.append(conv_output_size(sizes[-1], k, s, p))
    return sizes, None


def _feature_map_sizes(
    model_name: str, bandwidth: int, kernel_sizes: Sequence[int], strides: Sequence[int], paddings: Sequence[int]
) -> tuple[int, ...]:
    r"""Sides :math:`d_0 = 2b, d_1, \dots, d_L`; ``ValueError`` naming the layer at which a feature map would vanish."""
    sizes, failed = _sizes_or_failure(2 * bandwidth, kernel_sizes, strides, paddings)
    if failed is None:
        return tuple(sizes)
    smallest = bandwidth + 1
    while _sizes_or_failure(2 * smallest, kernel_sizes, strides, paddings)[1] is not None:
        smallest += 1
    padding = f", padding {paddings[failed]}" if paddings[failed] else ""
    raise ValueError(
        f"{model_name}: bandwidth {bandwidth} (input {2 * bandwidth}x{2 * bandwidth}) is too small for this stack: "
        f"layer {failed} (kernel {kernel_sizes[failed]}, stride {strides[failed]}{padding}) would get a "
        f"{sizes[-1]}x{sizes[-1]} feature map, smaller than its kernel (feature map sizes "
        f"{' -> '.join(map(str, sizes))}); the smallest bandwidth this stack accepts is {smallest}"
    )


def _output_padding(size_in: int, size_out: int, kernel_size: int, stride: int) -> int:
    r"""Output padding that makes ``ConvTranspose2d(k, s)`` map side ``size_in`` to ``size_out``."""
    return size_out - kernel_size - (size_in - 1) * stride


# ---------------------------------------------------------------------------------------------------------------------
# Presets. Each is registered under its name; the architecture is fixed, the data decides bandwidth, in_channels and
# num_classes (the parameter count quoted is for the defaults and changes slightly with in_channels / num_classes).


def _register_segmenter_preset(name: str) -> None:
    features, kernel_sizes, strides, num_params = SEGMENTER_PRESETS[name]

    def build(
        bandwidth: int = 50, in_channels: int = 1, num_classes: int = 11, batch_norm: bool = False
    ) -> CNNSegmenter:
        return CNNSegmenter(
            bandwidth, in_channels, num_classes, features, kernel_sizes, strides, use_skips=True, batch_norm=batch_norm
        )

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"CNNSegmenter of Gerken et al., {num_params:,} parameters: features {' '.join(map(str, features))}, "
        f"kernels {' '.join(map(str, kernel_sizes))}, strides {' '.join(map(str, strides))}, skips "
        "(batch_norm=True adds BatchNorm2d before each hidden ReLU)."
    )
    register_model(name, build)


def _register_classifier_preset(name: str) -> None:
    features, num_params, target = CLASSIFIER_PRESETS[name]

    def build(bandwidth: int = 30, in_channels: int = 1, num_classes: int = 10) -> CNNClassifier:
        return CNNClassifier(bandwidth, in_channels, num_classes, features)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"CNNClassifier, {num_params:,} parameters (matched to {target:,}): features {' '.join(map(str, features))}, "
        f"kernels {' '.join(map(str, CLASSIFIER_KERNEL_SIZES))}, strides {' '.join(map(str, CLASSIFIER_STRIDES))}, "
        "batch norm, global average pooling, linear head."
    )
    register_model(name, build)


CLASSIFIER_PRESETS.update(
    {
        "cnn_cls_114k": ((11, 22, 43, 87, 87), 114_137, 114_000),
        "cnn_cls_155k": ((13, 25, 51, 101, 101), 154_495, 154_550),
        "cnn_cls_500k": ((23, 46, 91, 183, 183), 501_941, 500_000),
        "cnn_cls_2p5m": ((51, 102, 204, 409, 409), 2_498_268, 2_500_000),
    }
)
for _name in SEGMENTER_PRESETS:
    _register_segmenter_preset(_name)
for _name in CLASSIFIER_PRESETS:
    _register_classifier_preset(_name)


@register_model("cnn_cls_cohen")
def cnn_cls_cohen(bandwidth: int = 30, in_channels: int = 1, num_classes: int = 10) -> CNNClassifier:
    """Cohen et al.'s planar baseline: conv 5x5/3 to 32, conv 5x5/3 to 64, ReLU, flatten, linear (68,106 at b=30)."""
    return CNNClassifier(
        bandwidth, in_channels, num_classes, (32, 64), (5, 5), (3, 3), batch_norm=False, padding="valid", head="flatten"
    )


@register_model("cnn_cls_matched")
def cnn_cls_matched(
    target_params: int, bandwidth: int = 30, in_channels: int = 1, num_classes: int = 10, rel_tol: float = 0.02
) -> CNNClassifier:
    r"""CNNClassifier of the preset architecture with widths w·(1, 2, 4, 8, 8) matched to ``target_params``.

    ``ValueError`` if no integer widths come within ``rel_tol`` (relative) of the target (see :func:`match_width`).
    """
    match = match_width(
        lambda widths: CNNClassifier(bandwidth, in_channels, num_classes, widths),
        target_params,
        CLASSIFIER_BASE_FEATURES,
        rel_tol=rel_tol,
    )
    return match.model


@register_model("cnn_seg_matched")
def cnn_seg_matched(
    target_params: int, bandwidth: int = 50, in_channels: int = 1, num_classes: int = 11, rel_tol: float = 0.02
) -> CNNSegmenter:
    r"""CNNSegmenter of the 218k preset's kernels and strides, its widths 13 15 22 31 141 scaled to ``target_params``.

    ``ValueError`` if no integer widths come within ``rel_tol`` (relative) of the target (see :func:`match_width`).
    """
    base_features, kernel_sizes, strides, _ = SEGMENTER_PRESETS["cnn_seg_218k"]
    match = match_width(
        lambda widths: CNNSegmenter(bandwidth, in_channels, num_classes, widths, kernel_sizes, strides),
        target_params,
        base_features,
        rel_tol=rel_tol,
    )
    return match.model
