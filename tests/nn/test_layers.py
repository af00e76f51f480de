"""Equivariant layers: equivariance (off-grid and grid rotations), the correlation definitions, pooling, batch norm,
initialisation scale, gradients, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from sphere_study.equivariance import assert_equivariant, equivariance_error
from sphere_study.harmonics import (
    euler_angles,
    random_rotation,
    rotation_matrix,
    s2_evaluate,
    s2_fft,
    s2_ifft,
    s2_nspec,
    so3_evaluate,
    so3_fft,
    so3_ifft,
    so3_mm,
    so3_near_identity_grid,
    so3_nspec,
    so3_soft_grid,
    so3_sum_n,
)
from sphere_study.nn import (
    S2BatchNorm,
    S2Conv,
    SO3BatchNorm,
    SO3Conv,
    SO3Shortcut,
    SO3ToS2,
    s2_integrate,
    set_product_recomputation,
    so3_integrate,
)

# Relative equivariance tolerances (issue 3): off-grid rotations 1e-4 (float64) / 1e-3 (float32); grid rotations 1e-6.
OFF_GRID_TOL = {torch.float64: 1e-4, torch.float32: 1e-3}
GRID_TOL = 1e-6

SMALL_SO3_GRID = so3_near_identity_grid(max_beta=math.pi / 6, n_alpha=4, n_beta=2, n_gamma=3)


def bandlimited(space: str, b: int, shape=(2, 3), dtype=torch.float64) -> torch.Tensor:
    """A random real band-limited signal (degrees < b) on the bandwidth-b grid."""
    n = s2_nspec(b) if space == "s2" else so3_nspec(b)
    xhat = torch.randn(*shape, n, dtype=torch.complex128)
    x = (s2_ifft if space == "s2" else so3_ifft)(xhat, real=True)
    return x.to(dtype).contiguous()


LAYERS = {
    # name: (constructor, input space, input bandwidth)
    "S2Conv down": (lambda: S2Conv(3, 4, b_in=6, b_out=4), "s2", 6),
    "S2Conv up": (lambda: S2Conv(3, 2, b_in=4, b_out=6), "s2", 4),
    "SO3Conv down": (lambda: SO3Conv(3, 2, b_in=5, b_out=4, grid=SMALL_SO3_GRID), "so3", 5),
    "SO3Conv up": (lambda: SO3Conv(3, 2, b_in=4, b_out=5, grid=SMALL_SO3_GRID), "so3", 4),
    "SO3ToS2": (lambda: SO3ToS2(3, 2, b_in=4, b_out=6, grid=SMALL_SO3_GRID), "so3", 4),
    "SO3Shortcut": (lambda: SO3Shortcut(3, 2, b_in=5, b_out=4), "so3", 5),
    "SO3BatchNorm": (lambda: SO3BatchNorm(3), "so3", 4),
    "S2BatchNorm": (lambda: S2BatchNorm(3), "s2", 5),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_equivariance_off_grid(name, seed, dtype, device):
    """Random (off-grid) rotations on band-limited inputs: relative error <= 1e-4 (float64), <= 1e-3 (float32)."""
    build, space, b = LAYERS[name]
    layer = build().to(device=device, dtype=dtype)
    x = bandlimited(space, b, dtype=dtype).to(device)
    R = random_rotation(generator=torch.Generator().manual_seed(seed))
    assert_equivariant(layer, x, R, tolerance=OFF_GRID_TOL[dtype])


@pytest.mark.parametrize("name", list(LAYERS))
def test_equivariance_grid_rotation_is_exact(name):
    """Rotations about z by a common grid step of the input and output grids, applied as alpha shifts to any (not
    band-limited) input: relative error <= 1e-6 in float32 too."""
    build, space, b = LAYERS[name]
    layer = build()
    x = torch.randn(2, 3, *(2 * b,) * (2 if space == "s2" else 3))
    # 2*pi/2 is a multiple of the grid step of every bandwidth; pi/2 is for even bandwidths.
    for angle in (math.pi, math.pi / 2) if b % 2 == 0 and getattr(layer, "b_out", b) % 2 == 0 else (math.pi,):
        assert equivariance_error(layer, x, angle) <= GRID_TOL


def test_equivariance_error_detects_non_equivariance():
    """The helper can fail: summing over m instead of n in the SO(3)->S² projection breaks equivariance."""

    class SumOverM(SO3ToS2):
        def forward(self, x):
            xhat = so3_fft(x, b_out=self.bandwidth)
            z = so3_mm(xhat, self.kernel_hat(x.dtype))
            # transpose each degree block (m <-> n), then sum over the last index: a sum over m
            b = self.bandwidth
            parts, start = [], 0
            for l in range(b):
                size = (2 * l + 1) ** 2
                parts.append(
                    z[..., start : start + size].unflatten(-1, (2 * l + 1, 2 * l + 1)).transpose(-1, -2).flatten(-2)
                )
                start += size
            return s2_ifft(so3_sum_n(torch.cat(parts, -1)), b_out=self.b_out, real=True)

    layer = SumOverM(3, 2, 4, 4, grid=SMALL_SO3_GRID).double()
    x = bandlimited("so3", 4)
    R = random_rotation(generator=torch.Generator().manual_seed(0))
    assert equivariance_error(layer, x, R) > 1e-2
    assert equivariance_error(SO3ToS2(3, 2, 4, 4, grid=SMALL_SO3_GRID).double(), x, R) < 1e-10


@pytest.mark.parametrize("point", [(0.4, 1.1), (1.3, -2.0), (0.0, 0.0)])
def test_s2conv_one_point_kernel_is_evaluation(point):
    """A one-point kernel at p gives y(R) = w s f(R p) exactly for band-limited f (this is the correlation
    int psi(R^-1 x) f(x) dx; a dropped conjugate would give f(R p') at the mirrored point). Tolerance 1e-10."""
    b = 5
    beta_p, alpha_p = point
    layer = S2Conv(1, 1, b, b, grid=[point], bias=False).double()
    f = bandlimited("s2", b, shape=(1, 1))
    y = layer(f)[0, 0]
    beta, alpha, gamma = so3_soft_grid(b)
    R = rotation_matrix(alpha[None, :, None], beta[:, None, None], gamma[None, None, :])
    p = torch.tensor(
        [math.sin(beta_p) * math.cos(alpha_p), math.sin(beta_p) * math.sin(alpha_p), math.cos(beta_p)],
        dtype=torch.float64,
    )
    x = R @ p
    values = s2_evaluate(
        s2_fft(f)[0, 0], torch.arccos(x[..., 2].clamp(-1, 1)).flatten(), torch.atan2(x[..., 1], x[..., 0]).flatten()
    )
    expected = layer.weight.item() * layer.scale * values.real.reshape(y.shape)
    assert (y - expected).abs().max() <= 1e-10 * expected.abs().max()


@pytest.mark.parametrize("point", [(0.5, 0.7, -0.3), (1.2, 2.0, 1.0)])
def test_so3conv_one_point_kernel_is_evaluation(point):
    """A one-point kernel at g gives y(R) = w s f(R g) exactly for band-limited f. Tolerance 1e-10."""
    b = 4
    layer = SO3Conv(1, 1, b, b, grid=[point], bias=False).double()
    f = bandlimited("so3", b, shape=(1, 1))
    y = layer(f)[0, 0]
    beta, alpha, gamma = so3_soft_grid(b)
    R = rotation_matrix(alpha[None, :, None], beta[:, None, None], gamma[None, None, :])
    g = rotation_matrix(point[1], point[0], point[2])
    a, be, ga = euler_angles(R @ g)
    values = so3_evaluate(so3_fft(f)[0, 0], be.flatten(), a.flatten(), ga.flatten())
    expected = layer.weight.item() * layer.scale * values.real.reshape(y.shape)
    assert (y - expected).abs().max() <= 1e-10 * expected.abs().max()


def test_so3_to_s2_definition():
    """SO3ToS2 = S² inverse of sum_n [f^l (psi^l)^H]_mn, plus bias (the spectral definition); tolerance 1e-12."""
    layer = SO3ToS2(3, 2, 4, 5, grid=SMALL_SO3_GRID).double()
    torch.nn.init.normal_(layer.bias)
    x = bandlimited("so3", 4)
    expected = s2_ifft(so3_sum_n(so3_mm(so3_fft(x), layer.kernel_hat(x.dtype))), b_out=5, real=True)
    expected = expected + layer.bias.view(1, -1, 1, 1)
    assert (layer(x) - expected).abs().max() <= 1e-12 * expected.abs().max()


def test_integration_is_invariant_and_normalised():
    """so3_integrate / s2_integrate of 1 are 1; both are invariant to random rotations (tolerance 1e-12)."""
    assert torch.allclose(
        so3_integrate(torch.ones(2, 8, 8, 8, dtype=torch.float64)), torch.ones(2, dtype=torch.float64)
    )
    assert torch.allclose(s2_integrate(torch.ones(8, 8, dtype=torch.float64)), torch.tensor(1.0, dtype=torch.float64))
    R = random_rotation(generator=torch.Generator().manual_seed(2))
    x = bandlimited("so3", 5)
    from sphere_study.harmonics import so3_rotate

    assert (so3_integrate(so3_rotate(x, R)) - so3_integrate(x)).abs().max() <= 1e-12 * so3_integrate(x).abs().max()
    f = bandlimited("s2", 6)
    from sphere_study.harmonics import s2_rotate

    assert (s2_integrate(s2_rotate(f, R)) - s2_integrate(f)).abs().max() <= 1e-12


def test_batch_norm_statistics():
    """Training mode normalises every channel to Haar mean 0, variance 1 (tolerance 1e-6); eval uses running stats."""
    bn = SO3BatchNorm(3).double()
    x = 2 + 3 * bandlimited("so3", 4, shape=(4, 3))
    y = bn(x)
    assert so3_integrate(y).mean(0).abs().max() <= 1e-6
    assert (so3_integrate(y**2).mean(0) - 1).abs().max() <= 1e-4
    bn.eval()
    assert not torch.allclose(bn(x), y)


def _activation_rms(b: int, seeds: int = 8, channels: int = 8) -> torch.Tensor:
    """Root mean square (Haar) of the activations after each of 8 layers, averaged in square over weight draws."""
    mean_square = torch.zeros(8)
    for seed in range(seeds):
        torch.manual_seed(seed)
        layers = [S2Conv(1, channels, b, b)] + [
            SO3Conv(channels, channels, b, b, grid=SMALL_SO3_GRID) for _ in range(7)
        ]
        x = torch.rand(2, 1, 2 * b, 2 * b)  # image-like: non-negative, not band-limited
        x = x / x.pow(2).mean().sqrt()
        with torch.no_grad():
            for i, layer in enumerate(layers):
                x = torch.relu(layer(x))
                mean_square[i] += so3_integrate(x**2).mean() / seeds
    return mean_square.sqrt()


def test_activation_scale_through_eight_layers():
    """The init rule s = sqrt(2 / (C_in P)) keeps the expected activation scale (RMS over 8 initialisations) within
    [0.1, 10] through S2Conv + 7 SO3Conv + ReLU, and the same at every bandwidth (within 10% between b = 6 and 12)."""
    rms6, rms12 = _activation_rms(6), _activation_rms(12)
    assert ((rms6 >= 0.1) & (rms6 <= 10)).all(), rms6
    assert ((rms12 >= 0.1) & (rms12 <= 10)).all(), rms12
    assert ((rms12 / rms6 - 1).abs() <= 0.1).all(), (rms6, rms12)


def test_gradients_reach_every_parameter():
    layers = torch.nn.ModuleList(
        [S2Conv(1, 3, 5, 4), SO3Conv(3, 2, 4, 4, grid=SMALL_SO3_GRID), SO3ToS2(2, 2, 4, 5, grid=SMALL_SO3_GRID)]
    )
    x = torch.randn(2, 1, 10, 10)
    for layer in layers:
        x = layer(x)
    x.pow(2).mean().backward()
    for name, p in layers.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


GRADCHECK_LAYERS = {
    "S2Conv down": (lambda: S2Conv(2, 2, b_in=3, b_out=2), "s2", 3),
    "S2Conv up": (lambda: S2Conv(2, 2, b_in=2, b_out=3), "s2", 2),
    "SO3Conv down": (lambda: SO3Conv(2, 2, b_in=3, b_out=2, grid=SMALL_SO3_GRID), "so3", 3),
    "SO3Conv up": (lambda: SO3Conv(2, 2, b_in=2, b_out=3, grid=SMALL_SO3_GRID), "so3", 2),
    "SO3ToS2": (lambda: SO3ToS2(2, 2, b_in=3, b_out=2, grid=SMALL_SO3_GRID), "so3", 3),
}


@pytest.mark.parametrize("fused_relu", [False, True], ids=["plain", "fused-relu"])
@pytest.mark.parametrize("recompute", [True, False], ids=["recompute", "store"])
@pytest.mark.parametrize("name", list(GRADCHECK_LAYERS))
def test_gradcheck_first_and_second_order(name, recompute, fused_relu):
    """The correlation layers' hand-written backward (adjoint transform chains) against finite differences, for the
    input and the weights, first and second order (float64, gradcheck's default tolerances, fast mode: random
    projections of the Jacobian), with the products recomputed in backward and stored, with and without the fused
    output ReLU (random inputs stay clear of its kink). Through
    ``functional_call``, so a recomputation that read the module's own weights instead of the call's would fail.
    Small sizes: the chains are the same at every size."""
    build, space, b = GRADCHECK_LAYERS[name]
    torch.manual_seed(0)
    layer = set_product_recomputation(build().double(), recompute)
    layer.fused_relu = fused_relu
    x = bandlimited(space, b, shape=(2, 2)).requires_grad_(True)
    weight = layer.weight.detach().clone().requires_grad_(True)

    def fn(x, weight):
        return torch.func.functional_call(layer, {"weight": weight}, (x,))

    assert torch.autograd.gradcheck(fn, (x, weight), fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, (x, weight), fast_mode=True)


@pytest.mark.parametrize("name", ["S2Conv down", "SO3Conv up", "SO3ToS2"])
def test_fused_relu_equals_relu_of_the_output(name):
    """``fused_relu``: the values and gradients (input and weights) of ``torch.relu(layer(x))``, to 1e-12 in
    float64, and the returned grid is a tensor of its own in the layers' memory layout."""
    build, space, b = LAYERS[name]
    torch.manual_seed(0)
    layer = build().double()
    x = bandlimited(space, b)
    results = []
    for fused in (False, True):
        layer.fused_relu = fused
        layer.zero_grad()
        xi = x.clone().requires_grad_(True)
        y = layer(xi) if fused else torch.relu(layer(xi))
        g = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(1))
        (y * g).sum().backward()
        results.append((y.detach(), xi.grad, layer.weight.grad.clone()))
        if fused:
            assert y._base is None
    for ref, got in zip(*results, strict=True):
        assert torch.allclose(got, ref, rtol=0, atol=1e-12 * ref.abs().max())


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_buffer_and_output_follows_the_device(name, device):
    """After ``.to(device)`` every parameter and buffer is on the device, and so are the output and the gradients."""
    build, space, b = LAYERS[name]
    layer = build().to(device)
    for what, t in [*layer.named_parameters(), *layer.named_buffers()]:
        assert t.device.type == device.type, what
    x = bandlimited(space, b, dtype=torch.float32).to(device).requires_grad_(True)
    y = layer(x)
    y.pow(2).sum().backward()
    assert y.device.type == device.type and x.grad.device.type == device.type


def test_buffers_follow_dtype_and_are_not_saved():
    layer = SO3Conv(2, 2, 4, 4, grid=SMALL_SO3_GRID)
    assert set(layer.state_dict()) == {"weight", "bias"}  # tables are non-persistent buffers
    y64 = layer.double()(bandlimited("so3", 4, shape=(1, 2)))
    assert y64.dtype == torch.float64


@pytest.mark.parametrize(
    "build,x,message",
    [
        (
            lambda: S2Conv(1, 2, 8, 4),
            torch.zeros(2, 1, 12, 12),
            r"bandwidth mismatch, the input has bandwidth 6, the layer expects 8",
        ),
        (lambda: S2Conv(1, 2, 8, 4), torch.zeros(2, 3, 16, 16), r"\[batch, 1, 16, 16\].*got \(2, 3, 16, 16\)"),
        (lambda: SO3Conv(2, 2, 4, 4), torch.zeros(2, 2, 8, 8), r"\[batch, 2, 8, 8, 8\]"),
        (lambda: SO3ToS2(2, 2, 4, 4), torch.zeros(2, 2, 8, 8, 6), r"got \(2, 2, 8, 8, 6\)"),
        (lambda: SO3Conv(2, 2, 4, 4), torch.zeros(2, 2, 8, 8, 8, dtype=torch.long), r"floating-point"),
    ],
)
def test_bad_input(build, x, message):
    with pytest.raises(ValueError, match=message):
        build()(x)


def test_bad_construction():
    with pytest.raises(ValueError, match="b_out must be an integer"):
        S2Conv(1, 2, 8, 0)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        SO3Conv(0, 2, 4, 4)
    with pytest.raises(ValueError, match=r"kernel grid must have shape \[n_points, 3\]"):
        SO3Conv(1, 2, 4, 4, grid=[[0.1, 0.2]])


@pytest.mark.parametrize(
    ("make", "scale"),
    [
        # s2cnn's effective factors on the kernel point sum for Cohen et al.'s MNIST layers (measured on the original)
        (lambda init: S2Conv(1, 20, 30, 10, init=init), 2 * 30 / 10 / math.sqrt(24)),
        (lambda init: SO3Conv(20, 40, 10, 6, init=init), (10 / 6) ** 1.5 / math.sqrt(20 * 192)),
        (lambda init: SO3ToS2(4, 3, 6, 8, init=init), (6 / 8) ** 1.5 / math.sqrt(4 * 192)),
    ],
)
def test_s2cnn_init_rule_reproduces_the_original_scale(make, scale):
    torch.manual_seed(0)
    he, s2cnn = make("he"), make("s2cnn")
    assert s2cnn.scale == pytest.approx(scale, rel=1e-12)
    assert he.scale == pytest.approx(math.sqrt(2 / (he.in_channels * he.n_points)), rel=1e-12)
    w = s2cnn.weight.detach()
    assert float(w.abs().max()) <= 1 and abs(float(w.std()) - 1 / math.sqrt(3)) < 0.05  # U(-1, 1)
    assert "init='s2cnn'" in repr(s2cnn)


def test_cohen_layers_at_the_s2cnn_scale():
    """The figures quoted from the original s2cnn: 1.2247 (S2Conv b 30->10, 24 points), 0.0347 (SO3Conv b 10->6)."""
    assert S2Conv(1, 20, 30, 10, init="s2cnn").scale == pytest.approx(1.2247, abs=1e-4)
    assert SO3Conv(20, 40, 10, 6, init="s2cnn").scale == pytest.approx(0.0347, abs=1e-4)
    assert SO3Shortcut(20, 40, 10, 6, init="s2cnn").conv.scale == pytest.approx((10 / 6) ** 1.5 / math.sqrt(20))


def test_unknown_init_rule_is_named():
    with pytest.raises(ValueError, match="init must be one of"):
        S2Conv(1, 2, 8, 4, init="xavier")


# Issue 12: inputs that are not tensors, and empty batches ------------------------------------------------------------


@pytest.mark.parametrize("bad", [[[0.0]], "np"], ids=["list", "numpy"])
def test_non_tensor_input_is_named(bad):
    import numpy as np

    from sphere_study.nn import S2Conv

    layer = S2Conv(1, 2, 4, 3)
    with pytest.raises(ValueError, match="S2Conv expects a torch.Tensor input, got"):
        layer(np.zeros((1, 1, 8, 8)) if bad == "np" else bad)


def test_empty_batch_gives_an_empty_output():
    from sphere_study.nn import S2Conv, SO3Conv, SO3ToS2

    x = torch.zeros(0, 1, 8, 8)
    y = S2Conv(1, 2, 4, 3)(x)
    assert y.shape == (0, 2, 6, 6, 6)
    assert SO3Conv(2, 3, 3, 2)(y).shape == (0, 3, 4, 4, 4)
    assert SO3ToS2(2, 3, 3, 2)(y).shape == (0, 3, 4, 4)
