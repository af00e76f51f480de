"""CosineOverRun: the closed form, its state, bad arguments (a fit with it: tests/cli/test_fit.py)."""

from __future__ import annotations

import math

import pytest
import torch

from sphere_study.tasks import CosineOverRun


def _optimizer(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_follows_the_closed_form_and_ends_at_eta_min():
    opt = _optimizer(0.1)
    schedule = CosineOverRun(opt, total_steps=10, eta_min=0.01)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(12):  # past the end it stays at eta_min
        opt.step()
        schedule.step()
        rates.append(opt.param_groups[0]["lr"])
    expected = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)) for t in range(13)]
    assert rates == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert rates[10] == pytest.approx(0.01)


def test_state_dict_restores_length_and_position():
    opt = _optimizer()
    schedule = CosineOverRun(opt, total_steps=8)
    for _ in range(3):
        opt.step()
        schedule.step()
    restored = CosineOverRun(_optimizer(), total_steps=None)
    restored.load_state_dict(schedule.state_dict())
    assert (restored.total_steps, restored.last_epoch) == (8, 3)


@pytest.mark.parametrize("bad", [{"total_steps": 0}, {"eta_min": -1.0}])
def test_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        CosineOverRun(_optimizer(), **bad)


def test_stepping_without_a_length_names_the_problem():
    schedule = CosineOverRun(_optimizer())
    with pytest.raises(RuntimeError, match="total_steps is not set"):
        schedule.step()
