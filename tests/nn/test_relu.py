"""mask_relu: torch.relu's values and gradients, with a bool mask as the only tensor kept for backward."""

from __future__ import annotations

import torch

from sphere_study.nn import mask_relu


def test_values_and_gradients_equal_torch_relu_on_a_permuted_grid():
    # The layers' grids are permuted views (angles outermost in memory); zeros test the kink (gradient 0, as torch).
    x = torch.randn(2, 3, 6, 6, 6, dtype=torch.float64).permute(0, 1, 4, 3, 2)
    x[0, 0, 0, 0, :2] = 0.0
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    g = torch.randn_like(x)
    (mask_relu(a) * g).sum().backward()
    (torch.relu(b) * g).sum().backward()
    assert torch.equal(mask_relu(x), torch.relu(x))
    assert torch.equal(a.grad, b.grad)
    assert mask_relu(x).stride() == torch.relu(x).stride()  # keeps the input's memory layout


def test_double_backward():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mask_relu, (x,))
    assert torch.autograd.gradgradcheck(mask_relu, (x,))


def test_keeps_only_a_bool_mask_for_backward():
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = torch.randn(3, 8, 8, 8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mask_relu(x * 1.0)
    assert [t.dtype for t in saved] == [torch.bool]


def test_inplace_overwrites_the_input_with_the_same_values_and_gradients():
    x = torch.randn(2, 3, 6, 6, 6, dtype=torch.float64).permute(0, 1, 4, 3, 2)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    g = torch.randn_like(x)
    hidden = a * 1.0  # a non-leaf, as a layer's output
    out = mask_relu(hidden, inplace=True)
    assert out.data_ptr() == hidden.data_ptr() and torch.equal(hidden, torch.relu(x))
    (out * g).sum().backward()
    (torch.relu(b) * g).sum().backward()
    assert torch.equal(a.grad, b.grad)
    assert torch.autograd.gradgradcheck(lambda t: mask_relu(t * 1.0, inplace=True), (x.clone().requires_grad_(True),))
