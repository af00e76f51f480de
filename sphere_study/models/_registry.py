r"""Model registry: configs name a model by preset string or by class path with arguments.

A *preset* is a name bound to a factory, any callable that returns a model (a class, a function, a
``functools.partial``). Its keyword arguments are the preset's overridable options; presets of a fixed architecture
take only what the data decides (``bandwidth``, ``in_channels``, ``num_classes``).

Three spellings build a model (:func:`build_model`):

* a preset name: ``build_model("cnn_seg_218k", bandwidth=30)``;
* a dict: ``{"class_path": "sphere_study.models.CNNSegmenter", "init_args": {...}}`` (the jsonargparse / LightningCLI
  form), or ``{"name": "cnn_seg_218k", "init_args": {...}}`` (a preset with overrides, as YAML writes it);
* an ``nn.Module`` instance, returned as is.

Registering a preset is one line, in the module that defines the model::

    register_model("s2cnn_cls_cohen", S2CNNClassifier)
    register_model("s2cnn_seg_204k", functools.partial(S2CNNSegmenter, features=(11, 12, ...), ...))

or as a decorator on a function whose signature lists the overridable options::

    @register_model("cnn_seg_218k")
    def cnn_seg_218k(bandwidth: int = 50, in_channels: int = 1, num_classes: int = 11) -> CNNSegmenter: ...

Every model built here is checked for the model interface (:func:`check_model_interface`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ._interface import check_model_interface

__all__ = ["ModelPreset", "available_models", "build_model", "get_preset", "register_model"]

ModelFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelPreset:
    r"""A registered preset: ``name``, the ``factory`` that builds it, and a one-line ``description``."""

    name: str
    factory: ModelFactory
    description: str

    def build(self, **overrides: Any) -> nn.Module:
        r"""Call the factory with ``overrides``; ``ValueError`` if the factory does not take one of them."""
        _check_overrides(self.factory, overrides, f"model preset {self.name!r}")
        model = self.factory(**overrides)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model preset {self.name!r} returned {type(model).__name__}, not an nn.Module")
        return check_model_interface(model)


_PRESETS: dict[str, ModelPreset] = {}


def register_model(
    name: str, factory: ModelFactory | None = None, *, description: str | None = None, overwrite: bool = False
):
    r"""Register ``factory`` under the preset ``name``; without ``factory``, return a decorator that does.

    Parameters
    ----------
    name : str
        Preset name, e.g. ``"cnn_seg_218k"``: non-empty, no whitespace.
    factory : callable, optional
        Returns an ``nn.Module`` exposing the model interface; its keyword arguments are the preset's overrides.
    description : str, optional
        One line for listings; defaults to the first line of the factory's docstring.
    overwrite : bool
        Replace an existing preset of the same name instead of raising ``ValueError``.

    Returns
    -------
    The factory (so that the decorator form leaves the function usable), or the decorator.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(f"a model preset name must be a non-empty string without whitespace, got {name!r}")

    def register(fn: ModelFactory) -> ModelFactory:
        if not callable(fn):
            raise ValueError(f"the factory of model preset {name!r} must be callable, got {type(fn).__name__}")
        if name in _PRESETS and not overwrite:
            raise ValueError(
                f"model preset {name!r} is already registered (factory {_qualname(_PRESETS[name].factory)}); "
                "pick another name or pass overwrite=True"
            )
        text = description if description is not None else _first_doc_line(fn)
        _PRESETS[name] = ModelPreset(name=name, factory=fn, description=text)
        return fn

    return register if factory is None else register(factory)


def available_models() -> list[str]:
    r"""Sorted names of the registered presets."""
    return sorted(_PRESETS)


def get_preset(name: str) -> ModelPreset:
    r"""The preset registered as ``name``; ``ValueError`` listing the available ones (and close matches) if none."""
    if name in _PRESETS:
        return _PRESETS[name]
    close = difflib.get_close_matches(name, list(_PRESETS), n=3, cutoff=0.6) if isinstance(name, str) else []
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    if isinstance(name, str) and "." in name:
        hint += (
            f" To build a class by its import path, pass {{'class_path': {name!r}, 'init_args': {{...}}}} instead of a "
            "string."
        )
    raise ValueError(f"unknown model {name!r}.{hint} Available models: {', '.join(available_models()) or '(none)'}")


def build_model(spec: str | Mapping[str, Any] | nn.Module, **overrides: Any) -> nn.Module:
    r"""Build a model from a preset name, a class-path dict, or pass an ``nn.Module`` through.

    Parameters
    ----------
    spec : str, dict or nn.Module
        * preset name (see :func:`available_models`);
        * ``{"class_path": "package.module.Class", "init_args": {...}}``: import ``Class`` and call it;
        * ``{"name": "preset", "init_args": {...}}``: a preset with overrides;
        * an ``nn.Module``: returned unchanged (``overrides`` must then be empty).
    **overrides
        Keyword arguments for the factory; they take precedence over ``init_args``.

    Returns
    -------
    nn.Module
        The model, checked to expose ``bandwidth``, ``in_channels``, ``num_classes`` and ``output_kind``.

    Raises
    ------
    ValueError
        Unknown preset (with the available names and close matches), a class path that does not import, an
        argument the factory does not take, a malformed dict, or a model without the interface.

    Examples
    --------
    >>> model = build_model("cnn_seg_218k", bandwidth=16)
    >>> model.bandwidth, model.output_kind
    (16, 's2_logits')
    >>> model = build_model({"class_path": "sphere_study.models.CNNClassifier", "init_args": {"bandwidth": 8}})
    >>> model.num_classes
    10
    """
    if isinstance(spec, nn.Module):
        if overrides:
            raise ValueError(
                f"build_model got an already built {type(spec).__name__} and overrides {sorted(overrides)}: "
                "overrides apply only to a preset name or a class-path dict"
            )
        return check_model_interface(spec)
    if isinstance(spec, str):
        return get_preset(spec).build(**overrides)
    if isinstance(spec, Mapping):
        return _build_from_mapping(spec, overrides)
    raise ValueError(
        "a model spec must be a preset name (str), a dict with 'class_path' (or 'name') and 'init_args', or an "
        f"nn.Module; got {type(spec).__name__}"
    )


def _build_from_mapping(spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> nn.Module:
    keys = set(spec)
    unknown = keys - {"class_path", "name", "init_args"}
    if unknown or ("class_path" in keys) == ("name" in keys):
        raise ValueError(
            "a model dict must have exactly one of 'class_path' or 'name', plus optional 'init_args'; "
            f"got keys {sorted(keys)}" + (f" (unknown: {sorted(unknown)})" if unknown else "")
        )
    init_args = spec.get("init_args") or {}
    if not isinstance(init_args, Mapping) or not all(isinstance(k, str) for k in init_args):
        raise ValueError(f"'init_args' of a model dict must be a mapping of argument names, got {init_args!r}")
    kwargs = {**init_args, **overrides}
    if "name" in keys:
        return get_preset(spec["name"]).build(**kwargs)

    class_path = spec["class_path"]
    factory = _import_object(class_path)
    _check_overrides(factory, kwargs, f"class {class_path!r}")
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise ValueError(f"class_path {class_path!r} built {type(model).__name__}, not an nn.Module")
    return check_model_interface(model)


def _import_object(path: str) -> ModelFactory:
    r"""Import ``package.module.Attr[.Attr...]``: the longest importable module prefix, then attribute lookups."""
    if not isinstance(path, str) or "." not in path:
        raise ValueError(
            f"class_path must be a dotted import path such as 'sphere_study.models.CNNSegmenter', got {path!r}"
        )
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only "this prefix is not a module" means: try a shorter one. A missing import inside it is a real error.
            if error.name is not None and (module_name == error.name or module_name.startswith(error.name + ".")):
                continue
            raise
        for attr in parts[split:]:
            if not hasattr(obj, attr):
                raise ValueError(
                    f"cannot import class_path {path!r}: module {module_name!r} has no attribute "
                    f"{'.'.join(parts[split:])!r}"
                )
            obj = getattr(obj, attr)
        if not callable(obj):
            raise ValueError(f"class_path {path!r} names a {type(obj).__name__}, not a class or function")
        return obj
    raise ValueError(f"cannot import class_path {path!r}: no module {parts[0]!r}")


def _check_overrides(factory: ModelFactory, kwargs: Mapping[str, Any], what: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have no signature: let the call itself complain
        return
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{what} does not take argument(s) {unknown}; it accepts {accepted}")
    missing = [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in kwargs
    ]
    if missing:
        raise ValueError(f"{what} needs argument(s) {missing}")


def _first_doc_line(fn: ModelFactory) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _qualname(fn: ModelFactory) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
