"""wandb sweeps: translation of a sweep file, wandb's own loader and agent expansion, --wandb without a network."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
import wandb
import yaml
from wandb.sdk.launch.sweeps import utils as wandb_sweep_utils

from sphere_study.results import load_results
from sphere_study.sweep import (
    WANDB_SWEEPS_DIR,
    check_wandb_sweep_config,
    load_sweep,
    select_points,
    sweep_main,
    wandb_sweep_configs,
    write_wandb_sweep_configs,
)

SWEEP = {
    "name": "demo",
    "output": "out/demo",
    "metric": "test/rotated/acc",
    "wandb": {"project": "sphere-study", "entity": "me"},
    "fixed": {"data.rotate_test": "both"},
    "axes": {"seed_everything": [0, 1]},
    "groups": {
        "s2cnn": {
            "base": "configs/s2cnn.yaml",
            "fixed": {"data.rotate_train": False},
            "axes": {"data.train_size": [10, 20]},
        },
        "cnn": {
            "base": "configs/cnn.yaml",
            "fixed": {"data.rotate_train": True, "data.train_size": 10},
            "axes": {"model.init_args.network": ["cnn_cls_114k", "cnn_cls_500k"], "data.augment": [1, 4, "online"]},
        },
    },
}


def agent_commands(config: dict) -> list[list[str]]:
    """The commands a wandb agent would run for every point of the grid, built with wandb's own helpers."""
    names = list(config["parameters"])
    commands = []
    for values in itertools.product(*(config["parameters"][n]["values"] for n in names)):
        run = {"args": {n: {"value": v} for n, v in zip(names, values, strict=True)}}
        sweep_vars = wandb_sweep_utils.create_sweep_command_args(run)
        sweep_vars |= {"env": ["/usr/bin/env"], "interpreter": [sys.executable]}  # the agent says "python"
        command = []
        for part in wandb_sweep_utils.create_sweep_command(list(config["command"])):
            command += sweep_vars[part[2:-1]] if part.startswith("${") else [part]
        commands.append(command)
    return commands


def test_each_group_becomes_one_wandb_grid_sweep(write_sweep):
    sweep = load_sweep(write_sweep(SWEEP))
    configs = wandb_sweep_configs(sweep)
    assert list(configs) == ["s2cnn", "cnn"]
    cnn = configs["cnn"]
    assert cnn["method"] == "grid" and cnn["name"] == "demo/cnn"
    assert cnn["parameters"] == {
        "seed_everything": {"values": [0, 1]},
        "model.init_args.network": {"values": ["cnn_cls_114k", "cnn_cls_500k"]},
        "data.augment": {"values": [1, 4, "online"]},
    }
    head = ["${env}", "${interpreter}", "-m", "sphere_study.sweep"]
    assert cnn["command"] == [*head, "--config", str(sweep.path), "--group", "cnn", "${args}"]
    assert cnn["metric"] == {"name": "test/rotated/acc", "goal": "maximize"}
    assert (cnn["project"], cnn["entity"]) == ("sphere-study", "me")
    # one wandb run per point: the grid of each sweep is exactly its group
    for group, config in configs.items():
        grid = 1
        for spec in config["parameters"].values():
            grid *= len(spec["values"])
        assert grid == len([p for p in sweep.points() if p.group == group])


def test_written_yaml_loads_with_wandbs_loader_and_passes_the_structure_check(write_sweep):
    sweep = load_sweep(write_sweep(SWEEP))
    paths = write_wandb_sweep_configs(sweep)
    assert [p.relative_to(sweep.output).as_posix() for p in paths] == [
        f"{WANDB_SWEEPS_DIR}/s2cnn.yaml",
        f"{WANDB_SWEEPS_DIR}/cnn.yaml",
    ]
    configs = wandb_sweep_configs(sweep)
    for path in paths:
        loaded = wandb_sweep_utils.load_sweep_config(str(path))  # what `wandb sweep FILE` reads
        assert loaded == configs[path.stem]
        check_wandb_sweep_config(loaded)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "bayes"}, "method must be 'grid'"),
        ({"parameters": {}}, "'parameters' must be a non-empty mapping"),
        ({"parameters": {"data.augment": {"values": [1], "value": 1}}}, "exactly one of 'value' or 'values'"),
        ({"parameters": {"data.augment": {"values": []}}}, "'values' must be a non-empty list"),
        ({"command": ["${env}", "python", "-m", "sphere_study.sweep"]}, r"contain '\$\{args\}' exactly once"),
        ({"metric": {"name": "test/rotated/acc"}}, "needs a name and a goal"),
        ({"parameter": {}}, r"unknown key\(s\) \['parameter'\]"),
    ],
)
def test_structure_check_rejects_malformed_configs(write_sweep, change, message):
    config = wandb_sweep_configs(load_sweep(write_sweep(SWEEP)))["cnn"] | change
    with pytest.raises(ValueError, match=message):
        check_wandb_sweep_config(config)


def test_agent_commands_select_each_point_exactly_once_and_run_it_in_its_folder(write_sweep, fake_fit):
    sweep = load_sweep(write_sweep(SWEEP))
    configs = wandb_sweep_configs(sweep)
    for group, config in configs.items():
        selected = []
        for command in agent_commands(config):
            assert command[:5] == ["/usr/bin/env", sys.executable, "-m", "sphere_study.sweep", "--config"]
            args = command[command.index("--group") + 2 :]
            assert all(a.startswith("--") and "=" in a for a in args)  # ${args}: --data.augment=4 ...
            where = dict(a[2:].split("=", 1) for a in args)
            (point,) = select_points(sweep.points(), [group], where)
            selected.append(point)
        assert sorted(p.name for p in selected) == sorted(p.name for p in sweep.points() if p.group == group)

    # run two of the agent's commands for real: the fit lands in the folder a local sweep would use
    commands = agent_commands(configs["cnn"])
    for command in (commands[0], commands[-1]):
        subprocess.run(command + ["--no-progress"], check=True, capture_output=True, timeout=120)
    points = [p for p in sweep.points() if p.group == "cnn"]
    done = [p for p in points if (p.dir / "results.json").exists()]
    assert {p.name for p in done} == {points[0].name, points[-1].name}
    for point in done:
        record = load_results(point.dir)
        assert record["config"]["overrides"]["data.rotate_train"] == "true"  # fixed overrides come from the file
        assert record["config"]["overrides"]["model.init_args.network"] == point.params["model.init_args.network"]
    # the summary still describes the whole sweep: the points no agent has run yet are pending
    summary = json.loads((sweep.output / "sweep_summary.json").read_text())
    assert (summary["num_points"], summary["num_selected"]) == (len(sweep.points()), 1)
    assert summary["counts"]["pending"] == len(sweep.points()) - 2 and summary["counts"]["done"] == 1
    # and a second agent run of the same point skips it (resumable on wandb too)
    subprocess.run(commands[0] + ["--no-progress"], check=True, capture_output=True, timeout=120)
    assert len((points[0].dir / "fake_fit_calls.txt").read_text().splitlines()) == 1


# (fake_fit: these bases are placeholders, which the real fit parser would reject before any wandb call)
def test_wandb_flag_offline_fails_with_a_clear_message(write_sweep, fake_fit, capsys):
    path = write_sweep(SWEEP)
    assert sweep_main(["--config", str(path), "--wandb"]) == 2
    err = capsys.readouterr().err
    assert "--wandb creates sweeps on the wandb server, but WANDB_MODE is 'offline'" in err
    assert "WANDB_MODE=online" in err and "wandb login" in err


def test_wandb_flag_creates_one_sweep_per_group(write_sweep, fake_fit, monkeypatch, capsys):
    path = write_sweep(SWEEP)
    created = []

    def fake_sweep(config, entity=None, project=None):
        created.append((config, entity, project))
        return f"id-{config['name'].split('/')[1]}"

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    assert sweep_main(["--config", str(path), "--wandb"]) == 0
    sweep = load_sweep(path)
    assert [c for c, _, _ in created] == list(wandb_sweep_configs(sweep).values())
    assert {(e, p) for _, e, p in created} == {("me", "sphere-study")}
    out = capsys.readouterr().out
    assert "WANDB_MODE=online wandb agent me/sphere-study/id-cnn" in out
    ids = json.loads((sweep.output / WANDB_SWEEPS_DIR / "sweep_ids.json").read_text())
    assert ids == {"s2cnn": "me/sphere-study/id-s2cnn", "cnn": "me/sphere-study/id-cnn"}
    assert not any(p.dir.exists() for p in sweep.points()), "--wandb runs nothing locally"


def test_dry_run_with_wandb_prints_the_sweep_configs(write_sweep, fake_fit, capsys):
    path = write_sweep(SWEEP)
    assert sweep_main(["--config", str(path), "--dry-run", "--wandb"]) == 0
    out = capsys.readouterr().out
    documents = out.split("# wandb sweep of group ")[1:]
    assert [yaml.safe_load(d.split("\n", 1)[1])["name"] for d in documents] == ["demo/s2cnn", "demo/cnn"]


def test_configs_pass_the_wandb_sweeps_schema_where_installed(write_sweep):
    # wandb 0.31 validates sweep configs on its server; the same JSON schema ships in wandb[sweeps] (package
    # 'sweeps'). Without it, `import sweeps` finds only this test folder (a namespace package), hence the attribute.
    sweeps = pytest.importorskip("sweeps")
    if not hasattr(sweeps, "schema_violations_from_proposed_config"):
        pytest.skip("the wandb sweep schema validator (wandb[sweeps], package 'sweeps') is not installed")
    for config in wandb_sweep_configs(load_sweep(write_sweep(SWEEP))).values():
        assert sweeps.schema_violations_from_proposed_config(config) == []
