r"""Planar CNN baselines: preset sizes, shapes for several bandwidths, gradients, training, input and size errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sphere_study.models import (
    OUTPUT_KINDS,
    CNNClassifier,
    CNNSegmenter,
    build_model,
    check_model_interface,
    count_parameters,
)
from sphere_study.models._cnn import CLASSIFIER_PRESETS, SEGMENTER_PRESETS

# Presets must come within PRESET_REL_TOL (relative) of their nominal size. Nominal sizes are the ones Gerken et al.
# quote, except "1M": their published 1M architecture has 1,042,013 parameters (4.2 % over 1M), so its nominal is the
# published architecture's count.
PRESET_REL_TOL = 0.02
NOMINAL_PARAMS = {
    "cnn_seg_218k": 218_000,
    "cnn_seg_1m": 1_042_013,
    "cnn_seg_5p5m": 5_500_000,
    "cnn_seg_120k": 121_726,  # s2cnn_seg_122k, the reduced S2CNN segmenter of the CPU study
    "cnn_cls_114k": 114_000,
    "cnn_cls_155k": 154_550,  # the default S2CNN classifier (Cohen et al.'s spherical MNIST network)
    "cnn_cls_500k": 500_000,
    "cnn_cls_2p5m": 2_500_000,
}
SEGMENTER_NAMES = sorted(SEGMENTER_PRESETS)
CLASSIFIER_NAMES = sorted(CLASSIFIER_PRESETS)


def segmenter_param_formula(in_channels, num_classes, features, kernel_sizes, use_skips, batch_norm=False):
    r"""The count stated in the CNNSegmenter docstring (batch norm: 2 per channel of every hidden layer)."""
    skip = int(use_skips)
    total = kernel_sizes[0] ** 2 * in_channels * features[0] + features[0]
    for i in range(1, len(features)):
        total += (2 * kernel_sizes[i] ** 2 + 2 * skip) * features[i - 1] * features[i]
        total += (1 + skip) * (features[i] + features[i - 1])
    total += int(batch_norm) * 2 * (sum(features) + sum(features[:-1]))
    return total + kernel_sizes[0] ** 2 * features[0] * num_classes + num_classes


def classifier_param_formula(in_channels, num_classes, features, kernel_sizes, batch_norm):
    r"""The count stated in the CNNClassifier docstring."""
    channels_in = (in_channels, *features[:-1])
    total = sum(
        k**2 * c_in * c_out + c_out + int(batch_norm) * c_out
        for c_in, c_out, k in zip(channels_in, features, kernel_sizes, strict=True)
    )
    return total + features[-1] * num_classes + num_classes


# --- parameter counts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOMINAL_PARAMS))
def test_preset_parameter_count_within_2_percent_of_nominal(name):
    num_params = count_parameters(build_model(name))
    nominal = NOMINAL_PARAMS[name]
    assert abs(num_params - nominal) <= PRESET_REL_TOL * nominal, (name, num_params, nominal)


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("cnn_seg_218k", 218_144),
        ("cnn_seg_1m", 1_042_013),
        ("cnn_seg_5p5m", 5_519_335),
        ("cnn_seg_120k", 120_077),
        ("cnn_cls_114k", 114_137),
        ("cnn_cls_155k", 154_495),
        ("cnn_cls_500k", 501_941),
        ("cnn_cls_2p5m", 2_498_268),
    ],
)
def test_preset_parameter_count_is_the_documented_one(name, exact):
    # The docstring tables and the preset tables quote these numbers: a change of architecture must update them.
    assert count_parameters(build_model(name)) == exact
    table = SEGMENTER_PRESETS if name in SEGMENTER_PRESETS else CLASSIFIER_PRESETS
    documented = table[name][-1] if name in SEGMENTER_PRESETS else table[name][1]
    assert documented == exact


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("use_skips", [True, False])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 11), (3, 4)])
@pytest.mark.parametrize("name", SEGMENTER_NAMES)
def test_segmenter_parameter_formula(name, use_skips, in_channels, num_classes, batch_norm):
    features, kernel_sizes, strides, _ = SEGMENTER_PRESETS[name]
    model = CNNSegmenter(
        50, in_channels, num_classes, features, kernel_sizes, strides, use_skips=use_skips, batch_norm=batch_norm
    )
    expected = segmenter_param_formula(in_channels, num_classes, features, kernel_sizes, use_skips, batch_norm)
    assert count_parameters(model) == expected


def test_segmenter_batch_norm_through_the_preset_and_in_eval_mode():
    """``batch_norm=True`` reaches the preset, adds BatchNorm2d layers, and in eval mode a sample's logits do not
    depend on the rest of its batch (running statistics, not the batch's)."""
    plain = build_model("cnn_seg_120k", bandwidth=16)
    model = build_model({"name": "cnn_seg_120k", "init_args": {"bandwidth": 16, "batch_norm": True}})
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2 * len(model.features) - 1
    assert count_parameters(model) == 120_529 and count_parameters(plain) == 120_077
    torch.manual_seed(0)
    x = torch.randn(4, 1, 32, 32)
    model.train()
    model(x)  # one update of the running statistics
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:1], model(x[:1]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_classifier_parameter_formula(name, batch_norm):
    features = CLASSIFIER_PRESETS[name][0]
    model = CNNClassifier(30, 2, 7, features, batch_norm=batch_norm)
    assert count_parameters(model) == classifier_param_formula(2, 7, features, model.kernel_sizes, batch_norm)


def test_parameter_count_does_not_depend_on_bandwidth():
    assert count_parameters(CNNSegmenter(bandwidth=16)) == count_parameters(CNNSegmenter(bandwidth=50))
    assert count_parameters(CNNClassifier(bandwidth=8)) == count_parameters(CNNClassifier(bandwidth=30))


# --- interface and shapes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOMINAL_PARAMS))
def test_presets_expose_the_model_interface(name):
    model = check_model_interface(build_model(name))
    assert model.output_kind in OUTPUT_KINDS
    expected_kind = "s2_logits" if name in SEGMENTER_PRESETS else "logits"
    assert model.output_kind == expected_kind
    assert (model.in_channels, model.num_classes) == ((1, 11) if name in SEGMENTER_PRESETS else (1, 10))
    assert model.bandwidth == (50 if name in SEGMENTER_PRESETS else 30)


@pytest.mark.parametrize("bandwidth", [16, 25, 30, 50])
@pytest.mark.parametrize("name", SEGMENTER_NAMES)
def test_segmenter_preset_output_has_input_size(name, bandwidth):
    # b = 25 gives odd feature map sides before the stride-2 layers: the output padding must make up for the floor.
    model = build_model(name, bandwidth=bandwidth, in_channels=2, num_classes=5)
    with torch.no_grad():
        out = model(torch.randn(1, 2, 2 * bandwidth, 2 * bandwidth))
    assert out.shape == (1, 5, 2 * bandwidth, 2 * bandwidth)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("use_skips", [True, False])
@pytest.mark.parametrize("bandwidth", [11, 12, 13, 14, 17])
@pytest.mark.parametrize(
    ("kernel_sizes", "strides"), [((3, 4, 3), (2, 3, 2)), ((2, 3, 5), (1, 2, 3)), ((1, 3, 3), (3, 1, 2))]
)
def test_segmenter_output_size_for_strided_stacks(kernel_sizes, strides, bandwidth, use_skips):
    model = CNNSegmenter(bandwidth, 1, 3, (4, 5, 6), kernel_sizes, strides, use_skips=use_skips)
    out = model(torch.randn(2, 1, 2 * bandwidth, 2 * bandwidth))
    assert out.shape == (2, 3, 2 * bandwidth, 2 * bandwidth)


@pytest.mark.parametrize(
    ("bandwidth", "padding"), [(8, "same"), (16, "same"), (30, "same"), (18, "valid"), (19, "valid"), (30, "valid")]
)
def test_classifier_output_shape(bandwidth, padding):
    model = CNNClassifier(bandwidth, in_channels=3, num_classes=4, features=(4, 6, 8, 8, 8), padding=padding)
    model.eval()
    out = model(torch.randn(5, 3, 2 * bandwidth, 2 * bandwidth))
    assert out.shape == (5, 4)
    assert torch.isfinite(out).all()


def test_classifier_feature_map_sizes_at_b30():
    # Documented in the CNNClassifier docstring.
    assert build_model("cnn_cls_114k").feature_map_sizes == (60, 60, 30, 15, 8, 4)


def test_segmenter_is_not_a_constant_map():
    # Catches a forward that ignores its input (e.g. returns only biases).
    torch.manual_seed(0)
    model = CNNSegmenter(bandwidth=16)
    with torch.no_grad():
        a, b = model(torch.randn(1, 1, 32, 32)), model(torch.randn(1, 1, 32, 32))
    assert (a - b).abs().max() > 1e-6


# --- gradients and training -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "bandwidth"), [(n, 16) for n in SEGMENTER_NAMES] + [(n, 8) for n in CLASSIFIER_NAMES])
def test_gradients_reach_every_parameter(name, bandwidth):
    torch.manual_seed(0)
    model = build_model(name, bandwidth=bandwidth)
    model(torch.randn(3, 1, 2 * bandwidth, 2 * bandwidth)).square().mean().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name


def _fit_steps(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, steps: int) -> tuple[float, float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_segmenter_trains_on_a_tiny_batch(batch_norm):
    torch.manual_seed(0)
    model = build_model({"name": "cnn_seg_218k", "init_args": {"bandwidth": 16, "batch_norm": batch_norm}})
    inputs = torch.randn(2, 1, 32, 32)
    targets = (inputs[:, 0] > 0.5).long() * 3  # a learnable per-pixel rule: class 3 where the input is bright
    first, last = _fit_steps(model, inputs, targets, steps=15)
    assert last < 0.7 * first, (first, last)


def test_classifier_trains_on_a_tiny_batch():
    torch.manual_seed(0)
    model = build_model("cnn_cls_114k", bandwidth=8)
    inputs = torch.randn(8, 1, 16, 16)
    targets = torch.arange(8) % 10
    first, last = _fit_steps(model, inputs, targets, steps=15)
    assert last < 0.7 * first, (first, last)


def test_models_run_in_float64():
    model = CNNSegmenter(8, 1, 3, (4, 5), (3, 3), (1, 2)).double()
    assert model(torch.randn(1, 1, 16, 16, dtype=torch.float64)).dtype == torch.float64


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [CNNSegmenter, CNNClassifier])
@pytest.mark.parametrize(
    ("shape", "dtype", "fragment"),
    [
        ((2, 2, 32, 32), torch.float32, "must have 1 channel"),
        ((2, 1, 32, 30), torch.float32, "must be square"),
        ((2, 1, 30, 30), torch.float32, "built for bandwidth 16"),
        ((1, 32, 32), torch.float32, "3 dimension(s)"),
        ((2, 1, 32, 32), torch.int64, "floating dtype"),
    ],
)
def test_wrong_input_raises_value_error_naming_expected_and_actual(model_cls, shape, dtype, fragment):
    model = model_cls(bandwidth=16)
    x = torch.zeros(shape, dtype=dtype)
    with pytest.raises(ValueError) as info:
        model(x)
    message = str(info.value)
    assert fragment in message
    if dtype.is_floating_point:
        assert "[B, 1, 32, 32]" in message and str(tuple(shape)) in message


def test_non_tensor_input_raises_value_error():
    with pytest.raises(ValueError, match="torch.Tensor"):
        CNNClassifier(bandwidth=8)([[0.0]])


def test_bandwidth_too_small_for_segmenter_stack_names_layer_and_sizes():
    # Default (218k) stack on b = 4: 8 -> 4 (k5) -> 2 (k3), then the 9x9 kernel of layer 2 does not fit.
    with pytest.raises(ValueError) as info:
        CNNSegmenter(bandwidth=4)
    message = str(info.value)
    assert "layer 2 (kernel 9, stride 1)" in message
    assert "8 -> 4 -> 2" in message
    # 24 -> 20 -> 18 -> 10 -> 4 -> 1 is the smallest input that fits.
    assert "smallest bandwidth this stack accepts is 12" in message
    CNNSegmenter(bandwidth=12)
    with pytest.raises(ValueError, match="bandwidth 11"):
        CNNSegmenter(bandwidth=11)


def test_bandwidth_too_small_for_valid_classifier_stack():
    # 16 -> 12 (k5) -> 5 -> 2, then layer 3's 3x3 kernel does not fit; 36 -> 32 -> 15 -> 7 -> 3 -> 1 is the smallest.
    with pytest.raises(
        ValueError, match=r"layer 3 \(kernel 3, stride 2\).*smallest bandwidth this stack accepts is 18"
    ):
        CNNClassifier(bandwidth=8, padding="valid")
    CNNClassifier(bandwidth=18, padding="valid")
    with pytest.raises(ValueError, match="bandwidth 17"):
        CNNClassifier(bandwidth=17, padding="valid")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"features": (4, 5), "kernel_sizes": (3,), "strides": (1, 1)}, "one entry per layer"),
        ({"features": (), "kernel_sizes": (), "strides": ()}, "non-empty sequence"),
        ({"features": (4, 0), "kernel_sizes": (3, 3), "strides": (1, 1)}, "every entry of features"),
        ({"features": (4, 5), "kernel_sizes": (3, 3), "strides": (1, -1)}, "every entry of strides"),
        ({"features": 4}, "non-empty sequence"),
        ({"bandwidth": 0}, "bandwidth must be a positive integer"),
        ({"bandwidth": 16.0}, "bandwidth must be a positive integer"),
        ({"num_classes": True}, "num_classes must be a positive integer"),
    ],
)
@pytest.mark.parametrize("model_cls", [CNNSegmenter, CNNClassifier])
def test_inconsistent_architecture_raises_value_error(model_cls, kwargs, fragment):
    kwargs = {"bandwidth": 16, **kwargs}
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        model_cls(**kwargs)


def test_unknown_classifier_padding_raises_value_error():
    with pytest.raises(ValueError, match="padding must be one of"):
        CNNClassifier(bandwidth=8, padding="circular")


def test_single_layer_segmenter_has_only_the_output_layer_as_decoder():
    model = CNNSegmenter(4, 1, 2, features=(3,), kernel_sizes=(3,), strides=(2,))
    assert len(model.decoder) == 0
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)
    assert count_parameters(model) == segmenter_param_formula(1, 2, (3,), (3,), use_skips=True)


def test_cohen_planar_baseline_preset():
    """s2cnn's run_classic.py network: conv 5x5/3 (32), conv 5x5/3 (64), flatten, linear; 68,106 parameters."""
    from sphere_study.models import build_model, count_parameters

    model = build_model("cnn_cls_cohen")
    assert count_parameters(model) == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 64 * 5 * 5 * 10 + 10 == 68_106
    assert model.feature_map_sizes == (60, 19, 5)
    assert model(torch.zeros(2, 1, 60, 60)).shape == (2, 10)
    with pytest.raises(ValueError, match="head"):
        CNNClassifier(head="max")
