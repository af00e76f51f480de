"""The paper-scale sweep files of configs/reproduce/: every point parses with the fit's parser and can run on the
data (train_size within the split), their headers state the run count and how to run them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sphere_study.cost import plan_run
from sphere_study.models import available_models
from sphere_study.results import num_train_samples
from sphere_study.sweep import default_fit_command, load_sweep, resolve_point_commands

REPO = Path(__file__).resolve().parents[2]
GERKEN = sorted((REPO / "configs" / "reproduce").glob("gerken2022_*.yaml"))

pytestmark = pytest.mark.slow


def test_there_is_one_file_per_figure():
    assert [p.stem for p in GERKEN] == [
        "gerken2022_classification",
        "gerken2022_segmentation",
        "gerken2022_segmentation_fashion",
        "gerken2022_segmentation_four_digits",
    ]


@pytest.mark.parametrize("path", GERKEN, ids=lambda p: p.stem)
def test_reproduce_file_parses_and_every_point_fits_the_data(path, monkeypatch):
    monkeypatch.chdir(REPO)  # base configs are relative to the repository root, as for every sweep file
    sweep = load_sweep(path.relative_to(REPO))
    points = sweep.points()
    header = path.read_text().split("\nname:")[0]
    assert f"= {len(points)} runs" in header, "the header states the number of runs"
    assert f"--config configs/reproduce/{path.name} --dry-run" in header, "and how to see its cost"
    assert {p.group for p in points} == {"s2cnn", "cnn"}

    # The fit's parser on one point per group (parsing all 117 takes minutes; the others differ only in values)
    firsts = {}
    for point in points:
        firsts.setdefault(point.group, point)
    configs, errors = resolve_point_commands(list(firsts.values()), default_fit_command())
    assert errors == {}
    for point in points:
        network = point.overrides.get("model.init_args.network")
        assert network is None or network in available_models()
        config = copy.deepcopy(configs[firsts[point.group].label].as_dict())
        config["data"]["train_size"] = point.overrides["data.train_size"]
        config["data"]["augment"] = point.overrides.get("data.augment", config["data"]["augment"])
        plan = plan_run(config)  # raises for a train_size beyond the training split
        assert (
            10_000 <= plan.train_samples == num_train_samples(config["data"]["train_size"], config["data"]["augment"])
        )
        assert plan.train_samples <= 240_000
    s2cnn = configs[firsts["s2cnn"].label]
    assert s2cnn.data.rotate_train is False and s2cnn.data.augment == 1 and s2cnn.data.rotate_test == "both"
    assert configs[firsts["cnn"].label].data.rotate_train is True
