r"""wandb grid sweeps: one per group, translated from the sweep file, written or created on the server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .._io import atomic_write, atomic_write_json
from ._schema import (
    _AGENT_COMMAND,
    WANDB_SWEEPS_DIR,
    Sweep,
    SweepConfigError,
    SweepError,
)

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
            "program": "sphere_study/sweep/__main__.py",  # informational: the command below does not use ${program}
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
