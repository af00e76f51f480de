r"""Sweeps: a grid of ``sphere-study fit`` runs declared in YAML, run resumably here or as wandb sweeps.

A sweep file names groups of runs. A group is one model family with its base config; its *axes* are the options
it sweeps, and the grid of the group is the cartesian product of its axes. Every option is a dotted LightningCLI key,
exactly as ``sphere-study fit`` takes it on the command line (``data.augment``, ``data.train_size``,
``seed_everything``, ``model.init_args.network``, ``model.class_path`` for the task, ``data.source`` for the
dataset, ``trainer.max_epochs``, ...).

Schema
------
.. code-block:: yaml

    name: augmentation              # required: letters, digits, '_', '-', '.'
    output: runs/sweeps/augmentation  # optional, default runs/sweeps/<name>
    metric: test/rotated/miou_fg    # optional: the metric a wandb sweep reports (maximized)
    wandb: {project: sphere-study, entity: my-team}   # optional, both keys optional
    fixed:                          # optional: overrides for every group
      data.rotate_test: both
    axes:                           # optional: axes of every group
      seed_everything: [0, 1, 2]
    groups:                         # required: group name -> group
      s2cnn:
        base: configs/segmentation/s2cnn.yaml     # required: a config file, or a list of them
        fixed: {data.rotate_train: false}
        axes: {data.train_size: [10000, 60000]}
      cnn:
        base: configs/segmentation/cnn.yaml
        fixed: {data.rotate_train: true}
        axes:
          model.init_args.network: [cnn_seg_218k, cnn_seg_1m]
          data.augment: [1, 2, 4, online]

Relative paths (``output``, ``base``) are relative to the working directory, as for ``sphere-study fit --config``;
run sweeps from the repository root. A group's ``fixed`` and ``axes`` take precedence over the top-level ones for
the same key; a key may not be both fixed and swept within one level. ``trainer.default_root_dir`` is set by the
sweep (the point's folder) and may not be given. Axis values are YAML scalars (or lists/mappings), without
duplicates; the values of an axis are run in the order written, the first axis varying slowest.

Points and folders
------------------
A point is one run: ``<output>/<group>/<point name>/``. The point name lists the axis values sorted by dotted key,
``augment=4__train_size=60000__network=cnn_seg_218k__seed=0`` (the last component of each key, the whole key where
two would clash; ``seed`` for ``seed_everything``). It depends on the values only, so it is stable across edits that
reorder the file. Characters outside ``[A-Za-z0-9._+-]`` become ``-`` and such a value gets a short hash of its exact
text, so names stay filesystem-safe and distinct. Each point folder holds ``point.json`` (what the point is),
``fit.log`` (every attempt's output, appended) and, once the fit completed, ``results.json`` (see
:mod:`sphere_study.results`).

Running
-------
:func:`run_sweep` runs the points as subprocesses ``<fit command> --config BASE --key value ...
--trainer.default_root_dir POINT_DIR``; the fit command is ``python -m sphere_study fit``, or the value of the
environment variable ``SPHERE_STUDY_FIT_COMMAND`` (split like a shell line), or the ``fit_command`` argument.

* *Resume*: a point whose ``results.json`` loads with :func:`~sphere_study.results.load_results` is skipped. The fit
  writes that file atomically at its very end, so a killed point leaves none and only that point is redone.
* *Retry*: a point whose process fails (non-zero exit, killed by a signal, or no valid ``results.json``) is retried
  ``retries`` times (default once), then reported as failed; the other points go on.
* *Stale*: a finished point whose ``point.json`` records other overrides than the sweep file now gives (an edited
  ``fixed`` value) is reported and not run, rather than mixing results of two settings: delete its folder or change
  ``output``. (An unfinished one is simply run with the new overrides.)
* *Workers*: ``workers`` points run at once. With GPUs each worker slot owns one (``CUDA_VISIBLE_DEVICES``, taken
  from the visible devices); without, the CPU threads are split between the workers (``OMP_NUM_THREADS``).
* *Concurrency*: each point holds an exclusive lock on ``<point>/.sweep.lock`` while it runs, so several sweep
  processes (other terminals, or machines sharing the folder) can work on the same sweep: a point locked by
  another process is reported as busy and left to it.
* At the end (also after Ctrl-C) ``<output>/sweep_summary.json`` records the status of every point of the sweep
  (those not selected this time as ``done``/``pending``/``stale`` on disk), written atomically.

Distributed sweeps on wandb
---------------------------
:func:`wandb_sweep_configs` translates each group into one wandb grid sweep (a wandb grid is a single cartesian
product, and groups have different bases and axes). Its parameters are the group's axes under their dotted names,
and its command runs this module for the one point the agent picked::

    [${env}, ${interpreter}, -m, sphere_study.sweep, --config, SWEEP.yaml, --group, GROUP, ${args}]

``${args}`` expands to ``--data.augment=4 --seed_everything=0 ...``, which select the point; it then runs through
:func:`run_sweep` like any local point, in the same folder, with the same resume, retry and lock. (A command calling
``fit`` directly could not give each run its own folder: the wandb agent substitutes ``${envvar:...}`` macros once,
before it sets the run id.) The YAML files go to ``<output>/wandb_sweeps/<group>.yaml``; ``--wandb`` creates the
sweeps on the server and prints the ``wandb agent`` commands.

Command line
------------
``sphere-study sweep --config FILE [--dry-run] [--workers N] [--retries 1] [--wandb] [--group G] [--KEY=VALUE ...]``
(also ``python -m sphere_study.sweep``): :func:`sweep_main`. ``--KEY=VALUE`` runs only the points with that value.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import fcntl
import hashlib
import itertools
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from ._io import atomic_write, atomic_write_json
from .results import RESULTS_FILE, ResultsError, load_results

__all__ = [
    "FIT_COMMAND_ENV",
    "SUMMARY_FILE",
    "Group",
    "Point",
    "PointOutcome",
    "Sweep",
    "SweepConfigError",
    "SweepError",
    "SweepReport",
    "check_wandb_sweep_config",
    "create_wandb_sweeps",
    "default_fit_command",
    "load_sweep",
    "point_status",
    "run_sweep",
    "select_points",
    "sweep_main",
    "wandb_sweep_configs",
    "worker_env",
    "write_wandb_sweep_configs",
]

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


# --------------------------------------------------------------------------------------------------------------------
# The sweep file


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


# --------------------------------------------------------------------------------------------------------------------
# Running points


def default_fit_command() -> list[str]:
    r"""``$SPHERE_STUDY_FIT_COMMAND`` split like a shell line, else ``[python, -m, sphere_study, fit]``."""
    line = os.environ.get(FIT_COMMAND_ENV)
    if line:
        return shlex.split(line)
    return [sys.executable, "-m", "sphere_study", "fit"]


def point_status(point: Point) -> str:
    r"""``"done"`` (a valid results file), ``"stale"`` (a valid results file made with other overrides: see the
    module docstring) or ``"pending"`` (anything else: never run, killed, failed; running it overwrites the folder)."""
    try:
        load_results(point.dir / RESULTS_FILE)
    except ResultsError:
        return "pending"
    return "stale" if _stale_reason(point) else "done"


def _stale_reason(point: Point) -> str | None:
    path = point.dir / POINT_FILE
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: rewritten when the point runs
    expected = json.loads(json.dumps(point.spec()))
    if recorded.get("base") == expected["base"] and recorded.get("overrides") == expected["overrides"]:
        return None
    return (
        f"{path} records the overrides {recorded.get('overrides')} on {recorded.get('base')}, but the sweep file now "
        f"gives {expected['overrides']} on {expected['base']}; delete the folder to rerun it, or change 'output'"
    )


@dataclasses.dataclass
class PointOutcome:
    r"""What happened to a point: ``status`` is one of ``completed`` (ran now), ``skipped`` (already done), ``failed``,
    ``stale``, ``busy`` (locked by another sweep process) or ``interrupted``."""

    point: Point
    status: str
    attempts: int = 0
    returncode: int | None = None
    error: str | None = None
    wall_time_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.point.group,
            "name": self.point.name,
            "dir": str(self.point.dir),
            "params": self.point.params,
            "status": self.status,
            "attempts": self.attempts,
            "returncode": self.returncode,
            "error": self.error,
            "wall_time_s": round(self.wall_time_s, 3),
            "log": str(self.point.dir / LOG_FILE),
        }


@dataclasses.dataclass
class SweepReport:
    r"""The outcome of :func:`run_sweep`: one :class:`PointOutcome` per point, and the summary file written."""

    outcomes: list[PointOutcome]
    summary_path: Path
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failed(self) -> list[PointOutcome]:
        """Failed and stale points: those that need the user's attention."""
        return [outcome for outcome in self.outcomes if outcome.status in ("failed", "stale")]


#: Statuses in the summary: outcomes of the points run now, then the on-disk states of points not selected.
_STATUSES = ("completed", "skipped", "failed", "stale", "busy", "interrupted", "done", "pending")


class _ProcessRegistry:
    """The running fit processes, so that an interrupted sweep can stop them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    @contextlib.contextmanager
    def running(self, process: subprocess.Popen) -> Iterator[None]:
        with self._lock:
            self._processes.add(process)
        if self.stopping.is_set():  # started while stop_all was collecting the processes
            process.terminate()
        try:
            yield
        finally:
            with self._lock:
                self._processes.discard(process)

    def stop_all(self, grace_s: float = 10.0) -> None:
        self.stopping.set()
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + grace_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def _point_lock(point_dir: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the point folder; yields False (and holds nothing) if another process has it."""
    point_dir.mkdir(parents=True, exist_ok=True)
    with open(point_dir / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def _run_point(
    point: Point, fit_command: Sequence[str], env: dict[str, str], retries: int, registry: _ProcessRegistry
) -> PointOutcome:
    start = time.monotonic()
    with _point_lock(point.dir) as locked:
        if not locked:
            return PointOutcome(point, "busy", error=f"{point.dir / LOCK_FILE} is held by another sweep process")
        status = point_status(point)  # again under the lock: another process may have just finished it
        if status == "done":
            return PointOutcome(point, "skipped")
        if status == "stale":
            return PointOutcome(point, "stale", error=_stale_reason(point))
        atomic_write_json(point.dir / POINT_FILE, point.spec())
        command = point.command(fit_command)
        outcome = PointOutcome(point, "failed")
        for attempt in range(1, retries + 2):
            if registry.stopping.is_set():
                outcome.status = "interrupted"
                break
            outcome.attempts = attempt
            outcome.returncode, outcome.error = _attempt(point, command, env, attempt, registry)
            if registry.stopping.is_set():
                outcome.status = "interrupted"
                break
            if outcome.error is None:
                outcome.status = "completed"
                break
        outcome.wall_time_s = time.monotonic() - start
        return outcome


def _attempt(
    point: Point, command: list[str], env: dict[str, str], attempt: int, registry: _ProcessRegistry
) -> tuple[int | None, str | None]:
    """Run the fit once, its output appended to the point's log; returns (exit status, error or None)."""
    log_path = point.dir / LOG_FILE
    with open(log_path, "a") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        threads = {k: env[k] for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS") if k in env}
        log.write(f"=== sweep attempt {attempt} of {point.label}, {stamp}, {threads}\n=== {shlex.join(command)}\n")
        log.flush()
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as err:
            error = f"could not start the fit command {shlex.join(command[:4])} ...: {err}"
            log.write(f"=== attempt {attempt} failed: {error}\n")
            return None, error
        with registry.running(process):
            returncode = process.wait()
        if returncode != 0:
            error = _describe_exit(returncode)
        else:
            try:
                load_results(point.dir / RESULTS_FILE)
                error = None
            except ResultsError as err:
                error = f"the fit exited with status 0 but left no valid {RESULTS_FILE}: {err}"
        log.write(f"=== attempt {attempt} {'completed' if error is None else 'failed: ' + error}\n")
    return returncode, error


def _visible_gpus(count: int | None) -> list[str]:
    """The GPUs the workers may use: the parent's ``CUDA_VISIBLE_DEVICES`` entries, or ``0..count-1``."""
    if count is None:
        try:
            import torch

            count = torch.cuda.device_count()
        except Exception:  # no torch or a broken driver: run on CPU
            count = 0
    if count <= 0:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [d.strip() for d in visible.split(",") if d.strip()][:count]
    return [str(i) for i in range(count)]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_env(slot: int, workers: int, gpus: Sequence[str], cpus: int, base: Mapping[str, str]) -> dict[str, str]:
    r"""The environment of a fit started in worker ``slot`` (0-based) of ``workers``.

    With ``gpus`` the slot gets ``gpus[slot % len(gpus)]`` as its only visible device; the CPU threads
    (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, which torch reads at start) are split evenly when ``workers > 1``.
    """
    env = dict(base)
    env["PYTHONUNBUFFERED"] = "1"  # the log shows progress as it happens
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    if workers > 1:
        threads = str(max(1, cpus // workers))
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
    return env


def run_sweep(
    sweep: Sweep,
    points: Sequence[Point] | None = None,
    *,
    workers: int = 1,
    retries: int = 1,
    fit_command: Sequence[str] | None = None,
    gpus: int | None = None,
    progress: bool = True,
    stream=None,
) -> SweepReport:
    r"""Run the sweep's points (all, or ``points``), skipping finished ones; write the summary.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    points : sequence of Point, optional
        A selection (see :func:`select_points`); default every point.
    workers : int
        Points run at once, each in its own process.
    retries : int
        Extra attempts for a point whose process fails.
    fit_command : sequence of str, optional
        The command prefix; default :func:`default_fit_command`.
    gpus : int, optional
        Number of GPUs to spread the workers over; default ``torch.cuda.device_count()``.
    progress : bool
        Show a progress bar (done/total, failures, ETA) and a line per finished point on ``stream`` (stderr).

    Returns
    -------
    SweepReport
        Every point's outcome. A KeyboardInterrupt stops the running fits, writes the summary and returns a report
        with ``interrupted=True``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    stream = sys.stderr if stream is None else stream
    points = list(sweep.points() if points is None else points)
    fit_command = list(default_fit_command() if fit_command is None else fit_command)
    started = time.time()

    outcomes: dict[int, PointOutcome] = {}
    pending = []
    for index, point in enumerate(points):
        status = point_status(point)
        if status == "done":
            outcomes[index] = PointOutcome(point, "skipped")
        elif status == "stale":
            outcomes[index] = PointOutcome(point, "stale", error=_stale_reason(point))
        else:
            pending.append(index)

    gpu_ids = _visible_gpus(gpus) if pending else []
    cpus = _cpu_count()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    registry = _ProcessRegistry()

    def run_in_slot(point: Point) -> PointOutcome:
        slot = slots.get()
        try:
            env = worker_env(slot, workers, gpu_ids, cpus, os.environ)
            return _run_point(point, fit_command, env, retries, registry)
        finally:
            slots.put(slot)

    where = f"{len(gpu_ids)} GPU(s)" if gpu_ids else f"CPU ({cpus} cores)"
    if gpu_ids and workers > len(gpu_ids):
        where += f"; {workers} workers share them, so some GPUs run two fits at once"
    if progress:
        print(
            f"sweep {sweep.name}: {len(points)} points, {len(points) - len(pending)} already done or stale, "
            f"{len(pending)} to run with {workers} worker(s) on {where} -> {sweep.output}",
            file=stream,
        )
    bar = tqdm(
        total=len(points),
        initial=len(points) - len(pending),
        unit="point",
        desc=sweep.name,
        file=stream,
        disable=not progress,
        dynamic_ncols=True,
    )
    failures = sum(outcome.status == "stale" for outcome in outcomes.values())
    bar.set_postfix(failed=failures)
    interrupted = False
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep-worker")
    futures: dict[Future, int] = {executor.submit(run_in_slot, points[i]): i for i in pending}
    try:
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, timeout=1.0, return_when="FIRST_COMPLETED")
            for future in done:
                outcome = future.result()
                outcomes[futures[future]] = outcome
                failures += outcome.status in ("failed", "stale")
                bar.update(1)
                bar.set_postfix(failed=failures)
                if progress:
                    bar.write(_outcome_line(outcome), file=stream)
    except KeyboardInterrupt:
        interrupted = True
        registry.stop_all()
        for future in futures:
            future.cancel()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        for future, index in futures.items():
            if index not in outcomes:
                finished = future.done() and not future.cancelled() and future.exception() is None
                outcomes[index] = future.result() if finished else PointOutcome(points[index], "interrupted")
        report = SweepReport([outcomes[i] for i in range(len(points))], sweep.summary_path, interrupted)
        _write_summary(sweep, report, started)
    return report


def _outcome_line(outcome: PointOutcome) -> str:
    if outcome.status == "completed":
        tries = f", attempt {outcome.attempts}" if outcome.attempts > 1 else ""
        return f"done    {outcome.point.label} in {outcome.wall_time_s:.0f} s{tries}"
    if outcome.status in ("failed", "stale"):
        log = outcome.point.dir / LOG_FILE
        return f"{outcome.status.upper():<7} {outcome.point.label}: {outcome.error} (log: {log})"
    return f"{outcome.status:<7} {outcome.point.label}" + (f": {outcome.error}" if outcome.error else "")


def _write_summary(sweep: Sweep, report: SweepReport, started: float) -> None:
    ran = {outcome.point.dir: outcome for outcome in report.outcomes}
    entries = [(ran.get(p.dir) or PointOutcome(p, point_status(p))).as_dict() for p in sweep.points()]
    statuses = [entry["status"] for entry in entries]
    atomic_write_json(
        report.summary_path,
        {
            "name": sweep.name,
            "sweep_file": str(sweep.path),
            "output": str(sweep.output),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "wall_time_s": round(time.time() - started, 3),
            "interrupted": report.interrupted,
            "num_points": len(entries),
            "num_selected": len(report.outcomes),
            "counts": {status: statuses.count(status) for status in _STATUSES},
            "points": entries,
        },
    )


# --------------------------------------------------------------------------------------------------------------------
# wandb sweeps

#: Top-level keys of a wandb sweep config that this module writes or that wandb documents for grid sweeps.
_WANDB_CONFIG_KEYS = {
    "name",
    "description",
    "method",
    "metric",
    "parameters",
    "program",
    "command",
    "project",
    "entity",
    "early_terminate",
    "run_cap",
}


def wandb_sweep_configs(sweep: Sweep) -> dict[str, dict[str, Any]]:
    r"""One wandb grid-sweep config per group (group name -> config), see the module docstring.

    The parameters are the group's axes, under their dotted keys, with their values in file order; the fixed
    overrides and the base config stay in the sweep file, which the command names.
    """
    configs = {}
    for group in sweep.groups:
        if not group.axes:
            raise SweepConfigError(f"{sweep.path}: groups.{group.name}: a wandb grid sweep needs at least one axis")
        config: dict[str, Any] = {
            "name": f"{sweep.name}/{group.name}",
            "description": f"sphere-study sweep {sweep.name!r}, group {group.name!r}, from {sweep.path}",
            "method": "grid",
            "program": "sphere_study/sweep.py",  # informational: the command below does not use ${program}
            "command": [*_AGENT_COMMAND, "--config", str(sweep.path), "--group", group.name, "${args}"],
            "parameters": {key: {"values": list(values)} for key, values in group.axes.items()},
        }
        if sweep.metric:
            config["metric"] = {"name": sweep.metric, "goal": "maximize"}
        if sweep.wandb_project:
            config["project"] = sweep.wandb_project
        if sweep.wandb_entity:
            config["entity"] = sweep.wandb_entity
        check_wandb_sweep_config(config)
        configs[group.name] = config
    return configs


def check_wandb_sweep_config(config: Mapping[str, Any]) -> None:
    r"""Check the structure of a wandb grid-sweep config (wandb 0.31 validates the schema only on its server).

    Raises
    ------
    ValueError
        Naming the first problem: unknown top-level key, method not ``grid``, parameters not ``{name: {values: [...]}}``
        or ``{name: {value: x}}``, a command without exactly one ``${args}``, a metric without a name or goal.
    """
    unknown = sorted(set(config) - _WANDB_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"wandb sweep config: unknown key(s) {unknown}")
    if config.get("method") != "grid":
        raise ValueError(f"wandb sweep config: method must be 'grid', got {config.get('method')!r}")
    parameters = config.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise ValueError("wandb sweep config: 'parameters' must be a non-empty mapping")
    for name, spec in parameters.items():
        if not isinstance(spec, Mapping) or set(spec) not in ({"value"}, {"values"}):
            raise ValueError(f"wandb sweep config: parameter {name!r} must have exactly one of 'value' or 'values'")
        if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
            raise ValueError(f"wandb sweep config: parameter {name!r}: 'values' must be a non-empty list")
    command = config.get("command")
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise ValueError("wandb sweep config: 'command' must be a list of strings")
    if command.count("${args}") != 1:
        raise ValueError("wandb sweep config: 'command' must contain '${args}' exactly once")
    metric = config.get("metric")
    if metric is not None and (
        not isinstance(metric, Mapping) or not metric.get("name") or metric.get("goal") not in ("maximize", "minimize")
    ):
        raise ValueError(f"wandb sweep config: 'metric' needs a name and a goal (maximize/minimize), got {metric!r}")


def write_wandb_sweep_configs(sweep: Sweep, configs: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    r"""Write ``<output>/wandb_sweeps/<group>.yaml`` for each group (for ``wandb sweep FILE`` by hand)."""
    configs = wandb_sweep_configs(sweep) if configs is None else configs
    paths = []
    for group, config in configs.items():
        path = sweep.output / WANDB_SWEEPS_DIR / f"{group}.yaml"
        text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, width=120)
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
        paths.append(path)
    return paths


def create_wandb_sweeps(sweep: Sweep, configs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    r"""Create one wandb sweep per group on the wandb server; returns group -> ``entity/project/id`` (or ``id``).

    Needs ``WANDB_MODE=online`` and a wandb login; also records the ids in ``<output>/wandb_sweeps/sweep_ids.json``.

    Raises
    ------
    SweepError
        Not online, or the server refused (the message carries wandb's).
    """
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode != "online":
        raise SweepError(
            f"--wandb creates sweeps on the wandb server, but WANDB_MODE is {mode!r} (sphere-study's default is "
            "offline): set WANDB_MODE=online and log in with `wandb login`"
        )
    import wandb

    configs = wandb_sweep_configs(sweep) if configs is None else configs
    paths = {}
    for group, config in configs.items():
        try:
            sweep_id = wandb.sweep(dict(config), entity=sweep.wandb_entity, project=sweep.wandb_project)
        except Exception as err:
            raise SweepError(f"wandb could not create the sweep of group {group!r}: {err}") from err
        # `wandb agent` takes entity/project/id or project/id; with no project wandb used its default one.
        owner = [sweep.wandb_entity, sweep.wandb_project] if sweep.wandb_project else []
        paths[group] = "/".join(p for p in (*owner, sweep_id) if p)
    atomic_write_json(sweep.output / WANDB_SWEEPS_DIR / "sweep_ids.json", paths)
    return paths


# --------------------------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sphere-study sweep",
        description="Run a sweep of sphere-study fit runs (resumable), or turn it into wandb sweeps.",
        epilog="Extra --dotted.key=value arguments select the points with that value (as the wandb agent does).",
        allow_abbrev=False,
    )
    parser.add_argument("--config", required=True, help="sweep YAML file (see configs/sweeps/)")
    parser.add_argument("--dry-run", action="store_true", help="list the points and their commands; run nothing")
    parser.add_argument("--workers", type=int, default=1, help="points run in parallel (one GPU each if any)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a failing point (default 1)")
    parser.add_argument("--wandb", action="store_true", help="create wandb sweeps (one per group) instead of running")
    parser.add_argument("--group", action="append", default=[], help="run only this group (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _parse_selection(extra: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    """``--key=value`` / ``--key value`` pairs left over by argparse."""
    selection: dict[str, str] = {}
    items = list(extra)
    while items:
        item = items.pop(0)
        if not item.startswith("--") or len(item) < 3:
            parser.error(f"unexpected argument {item!r}")
        key, sep, text = item[2:].partition("=")
        if not sep:
            if not items or items[0].startswith("--"):
                parser.error(f"unrecognized option {item!r} (a point selection needs a value: {item}=VALUE)")
            text = items.pop(0)
        if not _DOTTED_KEY_PATTERN.match(key):
            parser.error(f"unrecognized option {item!r}")
        selection[key] = text
    return selection


def _print_dry_run(sweep: Sweep, points: Sequence[Point], fit_command: Sequence[str]) -> None:
    statuses = [point_status(point) for point in points]
    counts = {s: statuses.count(s) for s in ("done", "pending", "stale")}
    print(
        f"sweep {sweep.name} ({sweep.path}): {len(points)} points in {len({p.group for p in points})} group(s) -> "
        f"{sweep.output}; {counts['done']} done, {counts['pending']} to run, {counts['stale']} stale"
    )
    width = len(str(len(points)))
    for index, (point, status) in enumerate(zip(points, statuses, strict=True), start=1):
        print(f"[{index:>{width}}] {status:<7} {point.label}")
        print(f"{'':>{width + 3}}{shlex.join(point.command(fit_command))}")


def sweep_main(argv: Sequence[str] | None = None) -> int:
    r"""``sphere-study sweep --config FILE [--dry-run] [--workers N] [--retries 1] [--wandb] [--group G]``.

    Returns
    -------
    int
        0 when every point is done, 1 when a point failed or is stale, 2 for a bad sweep file or arguments, 130
        when interrupted.
    """
    parser = _parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    selection = _parse_selection(extra, parser)
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.retries < 0:
        parser.error(f"--retries must be >= 0, got {args.retries}")
    try:
        sweep = load_sweep(args.config)
        points = select_points(sweep.points(), args.group, selection)
        if args.wandb and (args.group or selection):
            raise SweepError("--wandb turns the whole sweep into wandb sweeps: drop --group and point selections")
        if args.dry_run:
            _print_dry_run(sweep, points, default_fit_command())
            if args.wandb:
                for group, config in wandb_sweep_configs(sweep).items():
                    print(f"# wandb sweep of group {group}\n{yaml.safe_dump(config, sort_keys=False)}")
            return 0
        if not (args.group or selection):  # a whole-sweep run; not each point a wandb agent starts
            written = write_wandb_sweep_configs(sweep)
            print(f"wandb sweep configs: {', '.join(str(p) for p in written)}", file=sys.stderr)
        if args.wandb:
            for group, path in create_wandb_sweeps(sweep).items():
                print(f"group {group}: run agents with  WANDB_MODE=online wandb agent {path}")
            return 0
    except (SweepConfigError, SweepError) as err:
        print(f"sphere-study sweep: error: {err}", file=sys.stderr)
        return 2

    with _sigterm_as_interrupt():
        report = run_sweep(sweep, points, workers=args.workers, retries=args.retries, progress=not args.no_progress)
    _print_report(sweep, report)
    if report.interrupted:
        return 130
    return 1 if report.failed else 0


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so that the running fits are stopped and the summary is written."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_report(sweep: Sweep, report: SweepReport) -> None:
    counts = ", ".join(
        f"{report.count(s)} {s}"
        for s in ("completed", "skipped", "failed", "stale", "busy", "interrupted")
        if report.count(s) or s in ("completed", "failed")
    )
    print(f"sweep {sweep.name}: {len(report.outcomes)} points: {counts}; summary: {report.summary_path}")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.point.label}: {outcome.error}\n    log: {outcome.point.dir / LOG_FILE}")
    if report.interrupted:
        print("  interrupted: run the same command again to resume")


if __name__ == "__main__":
    sys.exit(sweep_main())
