r"""The sweep file: its schema, :func:`load_sweep`, the points it expands to and point selection."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

#: Environment variable holding the fit command (a shell-style line), e.g. a fake fit script in tests.
FIT_COMMAND_ENV = "SPHERE_STUDY_FIT_COMMAND"
#: The LightningCLI key the sweep sets to each point's folder.
RUN_DIR_KEY = "trainer.default_root_dir"
POINT_FILE = "point.json"
LOG_FILE = "fit.log"
LOCK_FILE = ".sweep.lock"
SUMMARY_FILE = "sweep_summary.json"
WANDB_SWEEPS_DIR = "wandb_sweeps"

_SWEEP_KEYS = ("name", "output", "metric", "wandb", "fixed", "axes", "groups")
_GROUP_KEYS = ("base", "fixed", "axes")
_WANDB_KEYS = ("project", "entity")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DOTTED_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")
_SHORT_KEYS = {"seed_everything": "seed"}
_MAX_NAME_LENGTH = 150
# What the wandb agent runs: `python -m sphere_study.sweep` works with or without the `sphere-study` script.
_AGENT_COMMAND = ("${env}", "${interpreter}", "-m", "sphere_study.sweep")


class SweepConfigError(ValueError):
    """A sweep file that cannot be used; the message names the file and the offending key."""


class SweepError(RuntimeError):
    """A sweep that cannot proceed (wandb not reachable, a bad point selection, ...)."""


@dataclasses.dataclass(frozen=True)
class Group:
    r"""One group of a sweep: ``base`` config file(s), ``fixed`` overrides and ``axes`` (key -> values).

    Both mappings are the effective ones, the top-level entries of the sweep file merged in.
    """

    name: str
    base: tuple[str, ...]
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]


@dataclasses.dataclass(frozen=True)
class Point:
    r"""One run of a sweep.

    Attributes
    ----------
    group, name : str
        The group and the point name built from ``params``; the run folder is ``dir``.
    base : tuple of str
        The base config file(s), passed as ``--config``.
    params : dict
        The axis values of this point (key -> value).
    overrides : dict
        Every override passed to fit: the group's fixed ones, then ``params``.
    dir : Path
        ``<output>/<group>/<name>``.
    """

    group: str
    name: str
    base: tuple[str, ...]
    params: dict[str, Any]
    overrides: dict[str, Any]
    dir: Path

    @property
    def label(self) -> str:
        """``group/name``."""
        return f"{self.group}/{self.name}"

    def command(self, fit_command: Sequence[str]) -> list[str]:
        r"""The full command line: ``fit_command --config BASE ... --key value ... --trainer.default_root_dir DIR``."""
        command = list(fit_command)
        for base in self.base:
            command += ["--config", base]
        for key, value in self.overrides.items():
            command += [f"--{key}", _cli_value(value)]
        return command + [f"--{RUN_DIR_KEY}", str(self.dir)]

    def spec(self) -> dict[str, Any]:
        """What ``point.json`` records: enough to tell whether a folder belongs to this point."""
        return {"group": self.group, "name": self.name, "base": list(self.base), "overrides": self.overrides}


@dataclasses.dataclass(frozen=True)
class Sweep:
    r"""A loaded sweep file; :meth:`points` expands it."""

    name: str
    path: Path
    output: Path
    metric: str | None
    wandb_project: str | None
    wandb_entity: str | None
    groups: tuple[Group, ...]

    def points(self) -> list[Point]:
        r"""Every point of every group, in file order (the first axis of a group varies slowest)."""
        points = [point for group in self.groups for point in _expand_group(group, self.output)]
        _check_unique(points, self.path)
        return points

    @property
    def summary_path(self) -> Path:
        return self.output / SUMMARY_FILE


def load_sweep(path: str | os.PathLike) -> Sweep:
    r"""Read and check a sweep file (schema in the module docstring).

    Raises
    ------
    SweepConfigError
        The file is missing or not YAML, a key is unknown (with the close matches), a required key is missing, or a
        value has the wrong type; the message names the file and the key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SweepConfigError(f"{path}: no such sweep file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise SweepConfigError(f"{path}: not a readable YAML file ({err})") from None
    where = _Where(path)
    if not isinstance(raw, dict):
        raise where.error("", f"a sweep file must be a mapping with keys {', '.join(_SWEEP_KEYS)}")
    where.check_keys(raw, _SWEEP_KEYS, "")

    name = where.require(raw, "name", "")
    where.check_name(name, "name")
    output = raw.get("output", f"runs/sweeps/{name}")
    if not isinstance(output, str) or not output:
        raise where.error("output", f"must be a folder path, got {output!r}")
    metric = raw.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise where.error("metric", f"must be a metric name such as 'test/rotated/acc', got {metric!r}")
    wandb_section = raw.get("wandb") or {}
    if not isinstance(wandb_section, dict):
        raise where.error("wandb", f"must be a mapping with keys {', '.join(_WANDB_KEYS)}, got {wandb_section!r}")
    where.check_keys(wandb_section, _WANDB_KEYS, "wandb.")
    for key in _WANDB_KEYS:
        if wandb_section.get(key) is not None and not isinstance(wandb_section[key], str):
            raise where.error(f"wandb.{key}", f"must be a string, got {wandb_section[key]!r}")

    top_fixed = where.overrides(raw.get("fixed"), "fixed")
    top_axes = where.axes(raw.get("axes"), "axes")
    where.check_disjoint(top_fixed, top_axes, "")

    groups_raw = where.require(raw, "groups", "")
    if not isinstance(groups_raw, dict) or not groups_raw:
        raise where.error("groups", "must be a non-empty mapping of group name -> {base, fixed, axes}")
    groups = []
    for group_name, group_raw in groups_raw.items():
        prefix = f"groups.{group_name}"
        where.check_name(group_name, prefix)
        if not isinstance(group_raw, dict):
            raise where.error(prefix, f"must be a mapping with keys {', '.join(_GROUP_KEYS)}")
        where.check_keys(group_raw, _GROUP_KEYS, f"{prefix}.")
        base = where.require(group_raw, "base", f"{prefix}.")
        base = [base] if isinstance(base, str) else base
        if not isinstance(base, list) or not base or not all(isinstance(b, str) and b for b in base):
            raise where.error(f"{prefix}.base", f"must be a config file path or a list of them, got {base!r}")
        fixed = where.overrides(group_raw.get("fixed"), f"{prefix}.fixed")
        axes = where.axes(group_raw.get("axes"), f"{prefix}.axes")
        where.check_disjoint(fixed, axes, f"{prefix}.")
        # The group's entries win over the top-level ones, fixed or swept.
        merged_fixed = {k: v for k, v in top_fixed.items() if k not in axes} | fixed
        merged_axes = {k: v for k, v in top_axes.items() if k not in fixed} | axes
        groups.append(Group(name=group_name, base=tuple(base), fixed=merged_fixed, axes=merged_axes))

    sweep = Sweep(
        name=name,
        path=path,
        output=Path(output),
        metric=metric,
        wandb_project=wandb_section.get("project"),
        wandb_entity=wandb_section.get("entity"),
        groups=tuple(groups),
    )
    sweep.points()  # names must be distinct: fail at load time, not halfway through a sweep
    return sweep


class _Where:
    """Error messages that name the sweep file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, key: str, message: str) -> SweepConfigError:
        return SweepConfigError(f"{self.path}: {key}: {message}" if key else f"{self.path}: {message}")

    def require(self, mapping: dict, key: str, prefix: str):
        if mapping.get(key) is None:
            raise self.error(f"{prefix}{key}", "is required")
        return mapping[key]

    def check_keys(self, mapping: dict, allowed: Sequence[str], prefix: str) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(f"{prefix}{key}", f"unknown key{hint}; allowed keys: {', '.join(allowed)}")

    def check_name(self, name, key: str) -> None:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise self.error(key, f"must be a name of letters, digits, '_', '-', '.' (a folder name), got {name!r}")

    def check_option_key(self, key, prefix: str) -> None:
        if not isinstance(key, str) or not _DOTTED_KEY_PATTERN.match(key):
            raise self.error(f"{prefix}.{key}", "is not a dotted option key such as 'data.augment'")
        if key == RUN_DIR_KEY:
            raise self.error(f"{prefix}.{key}", "is set by the sweep to each point's folder; set 'output' instead")
        if key == "config":
            raise self.error(f"{prefix}.{key}", "use the group's 'base' to name config files")

    def check_value(self, value, key: str) -> None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise self.error(key, f"{value!r} is not a plain YAML value (number, string, bool, list, map)") from None

    def overrides(self, raw, prefix: str) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.error(prefix, f"must be a mapping of dotted option key -> value, got {raw!r}")
        for key, value in raw.items():
            self.check_option_key(key, prefix)
            self.check_value(value, f"{prefix}.{key}")
        return dict(raw)

    def axes(self, raw, prefix: str) -> dict[str, list[Any]]:
        axes = self.overrides(raw, prefix)
        for key, values in axes.items():
            if not isinstance(values, list) or not values:
                raise self.error(f"{prefix}.{key}", f"must be a non-empty list of values to sweep, got {values!r}")
            texts = [_value_text(v) for v in values]
            duplicates = sorted({t for t in texts if texts.count(t) > 1})
            if duplicates:
                raise self.error(f"{prefix}.{key}", f"lists the value(s) {', '.join(duplicates)} more than once")
        return axes

    def check_disjoint(self, fixed: dict, axes: dict, prefix: str) -> None:
        both = sorted(set(fixed) & set(axes))
        if both:
            raise self.error(f"{prefix}fixed.{both[0]}", "is both fixed and swept (in 'axes'); keep one")


def _value_text(value) -> str:
    """The exact text of a value: strings as they are, everything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _cli_value(value) -> str:
    """A value as a LightningCLI argument (jsonargparse parses it as YAML): ``true``, ``null``, ``4``, ``online``."""
    return value if isinstance(value, str) else json.dumps(value)


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def _safe_value(value) -> str:
    text = _value_text(value)
    safe = _UNSAFE_CHARS.sub("-", text)
    # Lossy (or empty) texts get a hash of the exact text, so that distinct values keep distinct names.
    return safe if safe == text and text else f"{safe}-{_short_hash(text)}"


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    """The last component of each key (``seed`` for ``seed_everything``), or the full key where two would clash."""
    short = {key: _SHORT_KEYS.get(key, key.rsplit(".", 1)[-1]) for key in keys}
    clashing = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {key: key if s in clashing else s for key, s in short.items()}


def _point_name(params: Mapping[str, Any]) -> str:
    keys = sorted(params)
    short = _short_keys(keys)
    name = "__".join(f"{short[key]}={_safe_value(params[key])}" for key in keys)
    if len(name) > _MAX_NAME_LENGTH:  # folder names are limited to 255 bytes
        name = f"{name[: _MAX_NAME_LENGTH - 10]}-{_short_hash(name, 8)}"
    return name


def _expand_group(group: Group, output: Path) -> list[Point]:
    keys = list(group.axes)
    points = []
    for values in itertools.product(*(group.axes[key] for key in keys)):
        params = dict(zip(keys, values, strict=True))
        name = _point_name(params)
        points.append(
            Point(
                group=group.name,
                name=name,
                base=group.base,
                params=params,
                overrides={**group.fixed, **params},
                dir=output / group.name / name,
            )
        )
    return points


def _check_unique(points: Sequence[Point], path: Path) -> None:
    by_dir: dict[Path, Point] = {}
    by_spec: dict[str, Point] = {}
    for point in points:
        if point.dir in by_dir:
            raise SweepConfigError(
                f"{path}: group {point.group!r}: the points {by_dir[point.dir].params} and {point.params} get the same "
                f"folder name {point.name!r}; make the values of each axis distinct as text"
            )
        spec = json.dumps([list(point.base), point.overrides], sort_keys=True)
        if spec in by_spec:
            raise SweepConfigError(
                f"{path}: groups {by_spec[spec].group!r} and {point.group!r} both define the run {point.overrides} "
                f"on {list(point.base)}; remove it from one of them"
            )
        by_dir[point.dir] = by_spec[spec] = point


def select_points(points: Sequence[Point], groups: Sequence[str] = (), where: Mapping[str, str] = ()) -> list[Point]:
    r"""The points of the named ``groups`` (all if empty) whose overrides match ``where`` (dotted key -> text).

    A text matches a value written as on the command line (``true``, ``null``, ``4``), as Python prints it (``True``,
    ``None``, as the wandb agent sends it), or as an equal number.

    Raises
    ------
    SweepError
        An unknown group, a key that no point sets, or a selection that matches no point.
    """
    known_groups = list(dict.fromkeys(point.group for point in points))
    for group in groups:
        if group not in known_groups:
            raise SweepError(f"no group {group!r} in this sweep; groups: {', '.join(known_groups)}")
    selected = [point for point in points if not groups or point.group in groups]
    where = dict(where)
    for key in where:
        if not any(key in point.overrides for point in selected):
            keys = sorted({k for point in selected for k in point.overrides})
            raise SweepError(f"no point sets {key!r}; the keys of the selected points are: {', '.join(keys)}")
    selected = [p for p in selected if all(_matches(text, p.overrides.get(k, _MISSING)) for k, text in where.items())]
    if not selected:
        shown = " ".join(f"--{k}={t}" for k, t in where.items())
        raise SweepError(f"no point matches {shown}" + (f" in group(s) {', '.join(groups)}" if groups else ""))
    return selected


_MISSING = object()


def _matches(text: str, value) -> bool:
    if value is _MISSING:
        return False
    if text in (_cli_value(value), str(value)):
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return float(text) == value
    return False
