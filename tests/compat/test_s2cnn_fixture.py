"""The drop-in against the original s2cnn itself: weights, inputs and outputs the original produced
(``fixtures/s2cnn_fixture.pt``, made by ``scripts/make_s2cnn_fixture.py``; see ``fixtures/README.md``).

Relative error here is ``max |ours - original| / max |original|``. Tolerances: 1e-5 in float32 (the original's float32
Wigner tables and sums round at ~1e-7), 1e-10 in float64.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sphere_study.compat.s2cnn as s2cnn
from sphere_study.harmonics import so3_fft, so3_nspec
from sphere_study.nn import S2Conv, SO3Conv, SO3ToS2

FIXTURE = Path(__file__).parent / "fixtures" / "s2cnn_fixture.pt"
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def relative_error(ours: torch.Tensor, original: torch.Tensor) -> float:
    assert ours.shape == original.shape
    ours, original = ours.to(torch.promote_types(ours.dtype, torch.float64)), original.to(ours.dtype)
    return float((ours - original).abs().max() / original.abs().max())


def compat_layer(case) -> nn.Module:
    return getattr(s2cnn, case["cls"])(**case["kwargs"])


LAYERS = ["S2Convolution", "SO3Convolution", "SO3Shortcut", "SO3ToS2"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_loads_the_original_state_dict_and_gives_its_output(fixture, name, dtype):
    case = fixture["layers"][name]
    layer = compat_layer(case)
    layer.load_state_dict(case["state_dict"], strict=True)
    with torch.no_grad():
        y = layer.to(DTYPES[dtype])(case["input"].to(DTYPES[dtype]))
    assert y.dtype == DTYPES[dtype] and y.is_contiguous()
    assert relative_error(y, case["output"][dtype]) <= TOLERANCE[dtype]


@pytest.mark.parametrize("name", LAYERS + ["SO3Convolution_up"])
def test_same_seed_draws_the_original_initial_kernel_and_scaling(fixture, name):
    case = fixture["layers"][name]
    torch.manual_seed(case["seed"])
    layer = compat_layer(case)
    assert set(layer.state_dict()) == set(case["state_dict"])
    for key, value in layer.state_dict().items():
        assert value.shape == case["state_dict"][key].shape, key
        assert torch.equal(value, case["state_dict"][key]), key  # kernel from U(-1, 1), bias zeros
    conv = layer.conv if name == "SO3Shortcut" else layer
    assert conv.scaling == case["scaling"]
    # The effective scale is sphere_study.nn's init="s2cnn" rule.
    ours = {s2cnn.S2Convolution: S2Conv, s2cnn.SO3Convolution: SO3Conv, s2cnn.SO3ToS2: SO3ToS2}[type(conv)]
    plain = ours(conv.in_channels, conv.out_channels, conv.b_in, conv.b_out, conv.grid, init="s2cnn")
    assert conv.scaling * conv.spectral_factor == pytest.approx(plain.scale, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_upsampling_so3_convolution_agrees_below_b_in_and_drops_the_aliased_degrees(fixture, dtype):
    """For b_out > b_in the original keeps aliased coefficients at degrees >= b_in; ours are zero there."""
    case = fixture["layers"]["SO3Convolution_up"]
    b_in = case["kwargs"]["b_in"]
    layer = compat_layer(case)
    layer.load_state_dict(case["state_dict"], strict=True)
    with torch.no_grad():
        ours = so3_fft(layer.to(DTYPES[dtype])(case["input"].to(DTYPES[dtype])).double())
    theirs = so3_fft(case["output"][dtype].double())
    low = so3_nspec(b_in)
    assert relative_error(ours[..., :low], theirs[..., :low]) <= TOLERANCE[dtype]
    scale = theirs.abs().max()
    assert ours[..., low:].abs().max() <= 1e-5 * scale  # band-limited to b_in (float32 rounding at most)
    assert theirs[..., low:].abs().max() > 1e-2 * scale  # the original's aliased degrees b_in..b_out-1


class S2ConvNet_original(nn.Module):
    """Cohen et al.'s MNIST network (s2cnn examples/mnist/run.py) at input bandwidth b_in."""

    def __init__(self, b_in):
        super().__init__()
        self.conv1 = s2cnn.S2Convolution(1, 20, b_in, 10, s2cnn.s2_near_identity_grid())
        self.conv2 = s2cnn.SO3Convolution(20, 40, 10, 6, s2cnn.so3_near_identity_grid())
        self.out_layer = nn.Linear(40, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.out_layer(s2cnn.so3_integrate(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_s2convnet_original_reproduces_the_original_logits(fixture, dtype):
    case = fixture["network"]
    net = S2ConvNet_original(fixture["meta"]["network_b_in"])
    net.load_state_dict({k: v.float() for k, v in case["state_dict"].items()}, strict=True)
    with torch.no_grad():
        logits = net.to(DTYPES[dtype])(case["input"].to(DTYPES[dtype]))
    assert relative_error(logits, case["output"][dtype]) <= TOLERANCE[dtype]


def test_fixture_functions_cover_every_public_transform(fixture):
    assert {c["name"] for c in fixture["functions"].values()} >= {
        "so3_fft", "so3_rfft", "so3_ifft", "so3_rifft", "s2_fft", "s2_ifft", "s2_rft", "so3_rft", "s2_mm", "so3_mm",
        "so3_sum_n", "so3_integrate", "so3_rotation",
    }  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_functions_reproduce_the_original(fixture, dtype):
    errors = {}
    for name, case in fixture["functions"].items():
        module = importlib.import_module(case["module"].replace("s2cnn", "sphere_study.compat.s2cnn", 1))
        args = [a.to(DTYPES[dtype]) if isinstance(a, torch.Tensor) else a for a in case["args"]]
        out = getattr(module, case["name"])(*args, **case["kwargs"])
        assert out.dtype == DTYPES[dtype], name
        errors[name] = relative_error(out, case["output"][dtype])
    assert max(errors.values()) <= TOLERANCE[dtype], errors


def test_grids_are_the_original_grids(fixture):
    for name, case in fixture["grids"].items():
        fn = getattr(s2cnn, name.removesuffix("_small").removesuffix("_shrec"))
        ours = torch.tensor(fn(**case["kwargs"]), dtype=torch.float64)
        assert ours.shape == case["points"].shape, name
        assert torch.allclose(ours, case["points"], rtol=0, atol=1e-14), name
