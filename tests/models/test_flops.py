"""Training FLOPs: the measured count against the analytic formulas (S2CNN layers, FFTs, convolutions), and that
counting leaves the network and every random stream alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sphere_study.harmonics import (
    azimuthal_fft_flops,
    s2_fft,
    s2_mm,
    so3_fft,
    so3_ifft,
    so3_mm,
    so3_nspec,
)
from sphere_study.models import CNNClassifier, S2CNNClassifier, S2CNNSegmenter, count_training_flops
from sphere_study.nn import S2Conv, SO3Conv, SO3ToS2, correlation_flops, set_product_recomputation, so3_integrate

B = 5  # an odd batch: nothing may be counted per pair of signals


def analytic_s2cnn_flops(model: nn.Module, batch: int) -> tuple[float, float]:
    """Forward and backward flops of an S2CNN without product recomputation, from the formulas alone: the
    correlation layers (:func:`correlation_flops`), the linear head (2·B·in·out forward; the weight's and the input's
    gradient backward) and the β quadrature of the Haar integral (a matrix-vector product, forward only: its
    backward is an outer product, elementwise)."""
    forward = backward = 0.0
    first = True
    for module in model.modules():
        if isinstance(module, (S2Conv, SO3Conv, SO3ToS2)):
            flops = correlation_flops(module, batch, input_requires_grad=not first)
            forward, backward = forward + sum(flops["fwd"].values()), backward + sum(flops["bwd"].values())
            first = False
        elif isinstance(module, nn.Linear):
            forward += 2 * batch * module.in_features * module.out_features
            backward += 2 * 2 * batch * module.in_features * module.out_features
    if isinstance(model, S2CNNClassifier):
        last = [m for m in model.modules() if isinstance(m, (SO3Conv, S2Conv))][-1]
        forward += 2 * batch * last.out_channels * 2 * last.b_out  # sum over alpha, gamma, then @ w_beta
    return forward, backward


@pytest.mark.parametrize(
    "model",
    [
        S2CNNClassifier(bandwidth=6, in_channels=1, num_classes=10, features=[4, 6], bandwidths=[4, 3]),
        S2CNNSegmenter(
            bandwidth=5, in_channels=1, num_classes=3, features=[3, 4], bandwidths=[4, 3], kernel_max_beta=[0.125] * 3
        ),
    ],
    ids=["classifier", "segmenter"],
)
def test_s2cnn_count_equals_the_formulas(model):
    """Without checkpointing, forward and backward equal the analytic formulas exactly: the azimuthal DFTs (which
    run as matrix products on this path: no torch.fft op runs), padded Wigner steps, complex products at 8 flops
    per multiply-add, kernel spectra, head."""
    set_product_recomputation(model, False)
    flops = count_training_flops(model, (B, 1, 2 * model.bandwidth, 2 * model.bandwidth))
    forward, backward = analytic_s2cnn_flops(model, B)
    assert flops.forward == forward
    assert flops.backward == backward
    assert flops.total == forward + backward
    assert not any("fft" in op for op in {**flops.forward_by_op, **flops.backward_by_op})


def test_product_recomputation_adds_to_the_backward_only():
    """With product recomputation (an option of both S2CNNs) the backward recomputes part
    of each layer's kernel spectrum and product: more than without, at most all of them again (torch stops
    recomputing early, so the exact share is measured, not modelled)."""
    model = S2CNNClassifier(
        bandwidth=6, in_channels=1, num_classes=10, features=[4, 6], bandwidths=[4, 3], recompute_products=True
    )
    shape = (B, 1, 12, 12)
    recomputing = count_training_flops(model, shape)
    set_product_recomputation(model, False)
    without = count_training_flops(model, shape)
    recomputable = 0.0
    for layer in (m for m in model.modules() if isinstance(m, (S2Conv, SO3Conv))):
        fwd = correlation_flops(layer, B)["fwd"]
        recomputable += sum(v for k, v in fwd.items() if k.endswith("_mm") or k == "kernel_spectrum")
    assert recomputing.forward == without.forward
    assert without.backward < recomputing.backward <= without.backward + recomputable


class FFTS2CNN(nn.Module):
    """A tiny S2CNN written with the public transforms, as s2cnn writes it: s2_fft -> s2_mm -> so3_ifft -> ReLU ->
    so3_fft -> so3_mm -> so3_ifft -> Haar integral. These transforms run torch.fft on the azimuthal axes."""

    def __init__(self, b_in=6, b1=4, b2=3, c1=3, c2=2):
        super().__init__()
        self.b_in, self.b1, self.b2, self.c1, self.c2 = b_in, b1, b2, c1, c2
        self.k1 = nn.Parameter(torch.randn(1, c1, b1**2, dtype=torch.complex64))
        self.k2 = nn.Parameter(torch.randn(c1, c2, so3_nspec(b2), dtype=torch.complex64))

    def forward(self, x):
        y = torch.relu(so3_ifft(s2_mm(s2_fft(x, b_out=self.b1), self.k1), real=True))  # [B, c1, 2b1, 2b1, 2b1]
        return so3_integrate(so3_ifft(so3_mm(so3_fft(y, b_out=self.b2), self.k2), real=True))


def test_fft_flops_are_added_by_the_formulas():
    """FlopCounterMode does not count FFTs; ours adds them: 2.5 n log2 n per real n-point transform, which for the
    azimuthal transforms is azimuthal_fft_flops. Forward: r2c of the S² input (b_in) and of the SO(3) feature (b1),
    c2r of both inverses (b1, b2). Backward: the inverses' gradients are r2c, the SO(3) analysis' gradient c2r; the
    input image needs none."""
    net = FFTS2CNN()
    flops = count_training_flops(net, (B, 1, 12, 12), dtype=torch.float32)
    r2c, c2r = "aten._fft_r2c", "aten._fft_c2r"
    n1, n2 = B * net.c1, B * net.c2
    assert flops.forward_by_op[r2c] == round(azimuthal_fft_flops("s2", net.b_in, B)) + round(
        azimuthal_fft_flops("so3", net.b1, n1)
    )
    assert flops.forward_by_op[c2r] == round(azimuthal_fft_flops("so3", net.b1, n1)) + round(
        azimuthal_fft_flops("so3", net.b2, n2)
    )
    assert flops.backward_by_op[r2c] == round(azimuthal_fft_flops("so3", net.b2, n2)) + round(
        azimuthal_fft_flops("so3", net.b1, n1)
    )
    assert flops.backward_by_op[c2r] == round(azimuthal_fft_flops("so3", net.b1, n1))
    assert flops.forward_by_op[r2c] > 0 and sum(flops.forward_by_op.values()) == flops.forward


def test_complex_and_real_matrix_products_and_convolutions():
    """A complex matrix product is 8 flops per multiply-add (torch's shape-only formula would say 2); convolutions
    keep torch's count, without the gradient of the input image."""

    class Product(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 4, dtype=torch.complex64))

        def forward(self, x):
            return (x.to(torch.complex64) @ self.w).real

    flops = count_training_flops(Product(), (2, 3))
    assert flops.forward == 8 * 2 * 3 * 4 and flops.backward == 8 * 2 * 3 * 4  # the weight's gradient only

    conv = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.Conv2d(4, 2, 3, bias=False))
    flops = count_training_flops(conv, (B, 1, 8, 8))
    first, second = 2 * B * 4 * 6 * 6 * 1 * 9, 2 * B * 2 * 4 * 4 * 4 * 9  # 2 x multiply-adds per output
    assert flops.forward == first + second
    assert flops.backward == first + 2 * second  # first: weight gradient only; second: weight and input


def test_the_planar_cnn_is_counted():
    """The planar baseline's forward: its convolutions (2 x multiply-adds per output, from the output shapes seen by
    hooks) plus its linear layers, and nothing else."""
    cnn = CNNClassifier(
        bandwidth=6, in_channels=1, num_classes=10, features=[6, 8], kernel_sizes=[3, 3], strides=[1, 2]
    )
    expected = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            expected.append(2 * output.numel() * k)
        elif isinstance(module, nn.Linear):
            expected.append(2 * inputs[0].shape[0] * module.in_features * module.out_features)

    handles = [m.register_forward_hook(hook) for m in cnn.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        cnn.eval()(torch.zeros(B, 1, 12, 12))
    for handle in handles:
        handle.remove()
    flops = count_training_flops(cnn.train(), (B, 1, 12, 12))
    assert len(expected) >= 3 and flops.forward == sum(expected)
    assert flops.forward < flops.backward < 2 * flops.forward  # the image needs no gradient


def test_counting_leaves_the_network_gradients_statistics_and_rng_alone():
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    flops = count_training_flops(net, (4, 6))
    assert torch.equal(torch.get_rng_state(), rng), "the global generator moved"
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items()), "weights or batch-norm stats changed"
    assert all(p.grad is None for p in net.parameters())
    assert net.training and flops.forward == 2 * 4 * (6 * 8 + 8 * 3)


def test_a_network_returning_no_tensor_is_a_clear_error():
    class Bad(nn.Module):
        def forward(self, x):
            return "logits"

    with pytest.raises(ValueError, match="returned str, not tensors to sum"):
        count_training_flops(Bad(), (1, 2))
