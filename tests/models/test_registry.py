r"""Model registry: presets, class paths, round trips, overrides and the error messages."""

from __future__ import annotations

import functools

import pytest
from torch import nn

from sphere_study.models import (
    CNNClassifier,
    CNNSegmenter,
    ModelPreset,
    _registry,
    available_models,
    build_model,
    count_parameters,
    get_preset,
    register_model,
)

CNN_PRESETS = [
    "cnn_seg_218k",
    "cnn_seg_120k",
    "cnn_seg_1m",
    "cnn_seg_5p5m",
    "cnn_cls_114k",
    "cnn_cls_155k",
    "cnn_cls_500k",
    "cnn_cls_2p5m",
    "cnn_cls_matched",
    "cnn_seg_matched",
]


@pytest.fixture
def isolated_registry(monkeypatch):
    r"""A copy of the registry, so that registrations made in a test do not leak into others."""
    monkeypatch.setattr(_registry, "_PRESETS", dict(_registry._PRESETS))


class TinyModel(nn.Module):
    r"""Smallest model exposing the interface."""

    output_kind = "logits"

    def __init__(self, bandwidth: int = 4, in_channels: int = 1, num_classes: int = 3, hidden: int = 2):
        super().__init__()
        self.bandwidth, self.in_channels, self.num_classes = bandwidth, in_channels, num_classes
        self.linear = nn.Linear(in_channels, hidden)


def _state_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


# --- listing and presets ----------------------------------------------------------------------------------------------


def test_available_models_lists_every_cnn_preset_sorted():
    names = available_models()
    assert set(CNN_PRESETS) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", CNN_PRESETS)
def test_every_preset_has_a_description(name):
    preset = get_preset(name)
    assert isinstance(preset, ModelPreset) and preset.name == name
    assert preset.description  # first line of the factory's docstring


def test_preset_overrides_bandwidth_channels_classes():
    model = build_model("cnn_seg_1m", bandwidth=20, in_channels=3, num_classes=4)
    assert isinstance(model, CNNSegmenter)
    assert (model.bandwidth, model.in_channels, model.num_classes) == (20, 3, 4)
    assert model.features == (12, 13, 16, 77, 96, 163)


def test_matched_presets_hit_their_target():
    classifier = build_model("cnn_cls_matched", target_params=154_550)
    segmenter = build_model("cnn_seg_matched", target_params=204_073, bandwidth=50)
    assert abs(count_parameters(classifier) - 154_550) <= 0.02 * 154_550
    assert abs(count_parameters(segmenter) - 204_073) <= 0.02 * 204_073


# --- round trips ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "class_path", "init_args"),
    [
        (
            "cnn_seg_218k",
            "sphere_study.models.CNNSegmenter",
            {
                "bandwidth": 50,
                "features": [13, 15, 22, 31, 141],
                "kernel_sizes": [5, 3, 9, 7, 3],
                "strides": [1, 1, 1, 1, 2],
                "use_skips": True,
            },
        ),
        (
            "cnn_cls_2p5m",
            "sphere_study.models._cnn.CNNClassifier",
            {"bandwidth": 30, "features": [51, 102, 204, 409, 409]},
        ),
    ],
)
def test_class_path_dict_builds_the_same_architecture_as_the_preset(name, class_path, init_args):
    from_preset = build_model(name)
    from_dict = build_model({"class_path": class_path, "init_args": init_args})
    assert type(from_dict) is type(from_preset)
    assert _state_shapes(from_dict) == _state_shapes(from_preset)
    assert count_parameters(from_dict) == count_parameters(from_preset)


def test_named_dict_with_init_args_and_overrides():
    model = build_model({"name": "cnn_cls_114k", "init_args": {"bandwidth": 8, "num_classes": 4}}, num_classes=6)
    assert isinstance(model, CNNClassifier)
    assert (model.bandwidth, model.num_classes) == (8, 6)  # overrides win over init_args


def test_class_path_without_init_args_uses_defaults():
    model = build_model({"class_path": "sphere_study.models.CNNClassifier"})
    assert (model.bandwidth, model.num_classes) == (30, 10)


def test_module_instance_passes_through():
    model = CNNClassifier(bandwidth=8)
    assert build_model(model) is model


# --- registration -----------------------------------------------------------------------------------------------------


def test_register_decorator_and_one_line_forms(isolated_registry):
    @register_model("tiny_decorated")
    def tiny(bandwidth: int = 4, num_classes: int = 3) -> TinyModel:
        r"""Tiny model for the registry test."""
        return TinyModel(bandwidth=bandwidth, num_classes=num_classes)

    register_model("tiny_partial", functools.partial(TinyModel, hidden=5), description="partial preset")
    register_model("tiny_class", TinyModel)

    assert tiny(bandwidth=2).bandwidth == 2  # the decorator leaves the function usable
    assert {"tiny_decorated", "tiny_partial", "tiny_class"} <= set(available_models())
    assert get_preset("tiny_decorated").description == "Tiny model for the registry test."
    assert get_preset("tiny_partial").description == "partial preset"
    assert build_model("tiny_decorated", num_classes=7).num_classes == 7
    assert build_model("tiny_partial").linear.out_features == 5
    assert build_model("tiny_partial", hidden=9).linear.out_features == 9
    assert build_model("tiny_class", in_channels=2).in_channels == 2


def test_duplicate_name_raises_unless_overwrite(isolated_registry):
    register_model("tiny", TinyModel)
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_model("tiny", functools.partial(TinyModel, hidden=3))
    register_model("tiny", functools.partial(TinyModel, hidden=3), overwrite=True)
    assert build_model("tiny").linear.out_features == 3


def test_registry_isolation_fixture_really_isolates():
    # Catches a fixture that patches a copy the registry functions do not read.
    assert "tiny" not in available_models() and "tiny_class" not in available_models()


@pytest.mark.parametrize("name", ["", "has space", 3, None])
def test_bad_preset_names_raise(isolated_registry, name):
    with pytest.raises(ValueError, match="non-empty string without whitespace"):
        register_model(name, TinyModel)


def test_non_callable_factory_raises(isolated_registry):
    with pytest.raises(ValueError, match="must be callable"):
        register_model("not_callable", 42)


# --- error messages ---------------------------------------------------------------------------------------------------


def test_unknown_name_lists_available_and_suggests_close_match():
    with pytest.raises(ValueError) as info:
        build_model("cnn_seg_281k")
    message = str(info.value)
    assert "unknown model 'cnn_seg_281k'" in message
    assert "Did you mean 'cnn_seg_218k'" in message
    for name in CNN_PRESETS:
        assert name in message


def test_unknown_name_without_close_match_still_lists_available():
    with pytest.raises(ValueError) as info:
        build_model("resnet50")
    assert "Did you mean" not in str(info.value)
    assert "cnn_cls_114k" in str(info.value)


def test_dotted_string_hints_at_the_class_path_form():
    with pytest.raises(ValueError, match="'class_path': 'sphere_study.models.CNNSegmenter'"):
        build_model("sphere_study.models.CNNSegmenter")


def test_unknown_override_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError) as info:
        build_model("cnn_seg_218k", bandwith=30)
    message = str(info.value)
    assert "'cnn_seg_218k' does not take argument(s) ['bandwith']" in message
    assert "['bandwidth', 'in_channels', 'num_classes', 'batch_norm']" in message


def test_fixed_architecture_presets_do_not_accept_architecture_overrides():
    with pytest.raises(ValueError, match=r"does not take argument\(s\) \['features'\]"):
        build_model("cnn_cls_114k", features=(4, 4, 4, 4, 4))


def test_missing_required_argument_is_named():
    with pytest.raises(ValueError, match=r"'cnn_cls_matched' needs argument\(s\) \['target_params'\]"):
        build_model("cnn_cls_matched")


def test_unknown_init_arg_for_class_path():
    spec = {"class_path": "sphere_study.models.CNNClassifier", "init_args": {"bandwidth": 8, "depth": 3}}
    with pytest.raises(ValueError, match=r"class 'sphere_study.models.CNNClassifier' does not take .*\['depth'\]"):
        build_model(spec)


@pytest.mark.parametrize(
    ("class_path", "fragment"),
    [
        ("no_such_package.Model", "no module 'no_such_package'"),
        ("sphere_study.models.NoSuchModel", "module 'sphere_study.models' has no attribute 'NoSuchModel'"),
        ("sphere_study.models.OUTPUT_KINDS", "names a tuple, not a class or function"),
        ("CNNSegmenter", "dotted import path"),
    ],
)
def test_bad_class_path_raises_value_error(class_path, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_model({"class_path": class_path})


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"init_args": {}}, "exactly one of 'class_path' or 'name'"),
        ({"class_path": "sphere_study.models.CNNClassifier", "name": "cnn_cls_114k"}, "exactly one of"),
        ({"class_path": "sphere_study.models.CNNClassifier", "args": {}}, r"unknown: \['args'\]"),
        ({"name": "cnn_cls_114k", "init_args": [1, 2]}, "'init_args' of a model dict must be a mapping"),
    ],
)
def test_malformed_dict_raises_value_error(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_model(spec)


def test_wrong_spec_type_raises_value_error():
    with pytest.raises(ValueError, match="a model spec must be a preset name"):
        build_model(42)


def test_overrides_with_instance_raise():
    with pytest.raises(ValueError, match="overrides apply only"):
        build_model(CNNClassifier(bandwidth=8), bandwidth=16)


def test_models_without_the_interface_are_rejected(isolated_registry):
    register_model("plain_linear", lambda: nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"Linear does not expose the model interface: missing attribute\(s\)"):
        build_model("plain_linear")

    class BadKind(TinyModel):
        output_kind = "probabilities"

    register_model("bad_kind", BadKind)
    with pytest.raises(ValueError, match="output_kind must be one of"):
        build_model("bad_kind")
    with pytest.raises(ValueError, match="bandwidth must be a positive integer"):
        build_model(TinyModel(bandwidth=0))


def test_factory_returning_a_non_module_is_rejected(isolated_registry):
    register_model("returns_dict", lambda: {"not": "a model"})
    with pytest.raises(ValueError, match="returned dict, not an nn.Module"):
        build_model("returns_dict")
