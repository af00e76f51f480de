r"""count_parameters and match_width: the definition of model size and the width scaling that matches sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sphere_study.models import CNNClassifier, CNNSegmenter, count_parameters, match_width, scale_widths
from sphere_study.models._cnn import CLASSIFIER_BASE_FEATURES, SEGMENTER_PRESETS

MATCH_REL_TOL = 0.02  # the width-matching tolerance the study uses (2 %)


def test_count_parameters_counts_trainable_once_and_skips_buffers():
    shared = nn.Linear(4, 3)  # 15 parameters
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.BatchNorm1d(3))  # batch norm: 6 parameters, 2 buffers
    assert count_parameters(model) == 15 + 6
    model[3].weight.requires_grad_(False)
    assert count_parameters(model) == 15 + 3


def test_count_parameters_rejects_non_modules():
    with pytest.raises(ValueError, match="needs an nn.Module"):
        count_parameters([torch.zeros(3)])


def test_scale_widths_rounds_and_keeps_at_least_one():
    assert scale_widths((13, 15, 22), 2.0) == (26, 30, 44)
    assert scale_widths((10, 20), 0.25) == (3, 5)  # 2.5 and 5.0 round half up
    assert scale_widths((10, 20), 1e-6) == (1, 1)
    with pytest.raises(ValueError, match="positive finite"):
        scale_widths((1, 2), 0.0)
    with pytest.raises(ValueError, match="base_widths"):
        scale_widths((1, 0), 1.0)


def build_classifier(widths):
    return CNNClassifier(bandwidth=30, features=widths)


def build_segmenter(widths):
    _, kernel_sizes, strides, _ = SEGMENTER_PRESETS["cnn_seg_218k"]
    return CNNSegmenter(bandwidth=50, features=widths, kernel_sizes=kernel_sizes, strides=strides)


@pytest.mark.parametrize("target", [50_000, 154_550, 204_073, 1_000_000])
@pytest.mark.parametrize(
    ("build_fn", "base_widths"),
    [(build_classifier, CLASSIFIER_BASE_FEATURES), (build_segmenter, SEGMENTER_PRESETS["cnn_seg_218k"][0])],
)
def test_match_width_within_2_percent(build_fn, base_widths, target):
    match = match_width(build_fn, target, base_widths, rel_tol=MATCH_REL_TOL)
    assert abs(match.num_params - target) <= MATCH_REL_TOL * target
    assert match.num_params == count_parameters(match.model)
    assert match.rel_error == pytest.approx(abs(match.num_params - target) / target)
    assert match.widths == scale_widths(base_widths, match.multiplier)
    assert match.model.features == match.widths
    # The result is a real, initialised network (not a meta-device shell).
    assert all(p.device.type == "cpu" for p in match.model.parameters())


def test_match_width_finds_the_closest_count():
    # 13 w + 2 parameters: 5,000 lies between w = 384 (4,994) and w = 385 (5,007); 4,994 is closer.
    def mlp(widths):
        return nn.Sequential(nn.Linear(10, widths[0]), nn.ReLU(), nn.Linear(widths[0], 2))

    match = match_width(mlp, 5_000, (8,))
    assert (match.widths, match.num_params) == ((384,), 4_994)
    match = match_width(mlp, 5_004, (8,))
    assert (match.widths, match.num_params) == ((385,), 5_007)


def test_match_width_reproduces_the_classifier_presets():
    from sphere_study.models._cnn import CLASSIFIER_PRESETS

    for name, (features, num_params, target) in CLASSIFIER_PRESETS.items():
        match = match_width(build_classifier, target, CLASSIFIER_BASE_FEATURES)
        assert (match.widths, match.num_params) == (features, num_params), name


def test_match_width_falls_back_when_build_fn_cannot_run_on_meta():
    def reads_values(widths):
        hidden = int(torch.ones(1).sum().item()) * widths[0]  # .item() is impossible on the meta device
        return nn.Linear(3, hidden)

    match = match_width(reads_values, 400, (4,))
    assert match.num_params == 400  # 3 w + w = 400 at w = 100


def test_target_below_smallest_network_raises():
    with pytest.raises(ValueError, match=r"closest is .* at widths \(1, 1, 1, 1, 1\)"):
        match_width(build_classifier, 50, CLASSIFIER_BASE_FEATURES)


def test_target_above_largest_multiplier_raises():
    with pytest.raises(ValueError, match="cannot reach 10,000,000 parameters.*raise max_multiplier"):
        match_width(build_classifier, 10_000_000, CLASSIFIER_BASE_FEATURES, max_multiplier=8.0)


def test_target_in_a_gap_wider_than_the_tolerance_raises():
    def mlp(widths):
        return nn.Sequential(nn.Linear(10, widths[0]), nn.ReLU(), nn.Linear(widths[0], 2))

    with pytest.raises(ValueError, match=r"cannot match 5,000 parameters within 0.01% .* closest is 4,994 .*0.12% off"):
        match_width(mlp, 5_000, (8,), rel_tol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"target_params": 0}, "target_params must be a positive integer"),
        ({"target_params": 1.5e5}, "target_params must be a positive integer"),
        ({"base_widths": ()}, "base_widths must be a non-empty sequence"),
        ({"rel_tol": 1.5}, "rel_tol must be a number in"),
    ],
)
def test_bad_arguments_raise(kwargs, fragment):
    arguments = {"target_params": 100_000, "base_widths": CLASSIFIER_BASE_FEATURES, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        match_width(build_classifier, **arguments)


def test_build_fn_returning_non_module_raises():
    with pytest.raises(ValueError, match="build_fn must return an nn.Module"):
        match_width(lambda widths: widths, 1_000, (4,))
