"""The S2CNN models compute what they computed before the issue-13 optimisations: outputs and gradients of small
models agree with ``tests/fixtures/s2cnn_outputs.pt`` (written by ``tests/fixtures/make_s2cnn_outputs.py`` from the
code before those changes) up to rounding: relative 1e-10 in float64, 1e-4 in float32, on every available device."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "s2cnn_outputs.pt"
_spec = importlib.util.spec_from_file_location("make_s2cnn_outputs", FIXTURES / "make_s2cnn_outputs.py")
_maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_maker)
CASES, loss_of = _maker.CASES, _maker.loss_of
REL_TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double().cpu() - b).norm() / b.norm())


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURE)


@pytest.mark.parametrize("recompute", [False, True], ids=["stored", "recomputed"])
@pytest.mark.parametrize("name", list(CASES))
def test_outputs_and_gradients_match_the_reference(reference, name, recompute, device, dtype):
    """Both ways of getting the backward (product operands stored, or recomputed: set_product_recomputation)."""
    ref = reference[name]
    cls, kwargs = CASES[name]
    model = cls(**kwargs, recompute_products=recompute).to(device=device, dtype=dtype).train()
    model.load_state_dict(ref["state"])  # copies into the model's dtype and device
    x = ref["input"].to(device=device, dtype=dtype).clone().requires_grad_(True)  # fresh .grad per test
    y = model(x)
    loss_of(y).backward()
    tol = REL_TOL[dtype]
    assert rel_err(y, ref["output"]) < tol
    assert rel_err(x.grad, ref["input_grad"]) < tol
    grads = dict(model.named_parameters())
    total = torch.cat([g.reshape(-1) for g in ref["grads"].values()]).norm()
    for pname, g in ref["grads"].items():
        # Relative per parameter, except for gradients that vanish analytically (a bias before batch norm): those
        # relative to the whole gradient.
        scale = max(float(g.norm()), 1e-3 * float(total))
        assert float((grads[pname].grad.double().cpu() - g).norm()) / scale < tol, pname
