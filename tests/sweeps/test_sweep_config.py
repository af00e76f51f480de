"""Sweep files: schema checks with clear errors, grid expansion, point names, selection, --dry-run."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from sphere_study.sweep import SweepConfigError, SweepError, load_sweep, select_points, sweep_main

REPO = Path(__file__).resolve().parents[2]

GERKEN_LIKE = {
    "name": "demo",
    "output": "out/demo",
    "fixed": {"data.rotate_test": "both"},
    "axes": {"seed_everything": [0, 1, 2]},
    "groups": {
        "s2cnn": {
            "base": "configs/s2cnn.yaml",
            "fixed": {"model.init_args.network": "s2cnn_seg_204k", "data.rotate_train": False},
            "axes": {"data.train_size": [100, 200]},
        },
        "cnn": {
            "base": ["configs/cnn.yaml", "configs/extra.yaml"],
            "fixed": {"data.rotate_train": True},
            "axes": {
                "model.init_args.network": ["cnn_seg_218k", "cnn_seg_1m"],
                "data.augment": [1, 4, "online"],
                "data.train_size": [100],
            },
        },
    },
}


def test_grid_expands_to_the_cartesian_product_of_each_group(write_sweep):
    sweep = load_sweep(write_sweep(GERKEN_LIKE))
    points = sweep.points()
    assert len(points) == 2 * 3 + 2 * 3 * 1 * 3
    by_group = {g: [p for p in points if p.group == g] for g in ("s2cnn", "cnn")}

    expected_s2cnn = {(size, seed) for size in (100, 200) for seed in (0, 1, 2)}
    assert {(p.params["data.train_size"], p.params["seed_everything"]) for p in by_group["s2cnn"]} == expected_s2cnn
    expected_cnn = set(itertools.product(["cnn_seg_218k", "cnn_seg_1m"], [1, 4, "online"], [100], [0, 1, 2]))
    got_cnn = {
        (p.params["model.init_args.network"], p.params["data.augment"], p.params["data.train_size"],
         p.params["seed_everything"])
        for p in by_group["cnn"]
    }  # fmt: skip
    assert got_cnn == expected_cnn

    for point in by_group["cnn"]:
        # fixed overrides of the sweep and of the group, then the axis values; the group's base files in order
        assert point.overrides == {"data.rotate_test": "both", "data.rotate_train": True, **point.params}
        assert point.base == ("configs/cnn.yaml", "configs/extra.yaml")
        assert point.dir == Path("out/demo") / "cnn" / point.name
    # top-level axes come before the group's, so the seed varies slowest
    assert [p.params["seed_everything"] for p in by_group["s2cnn"]] == [0, 0, 1, 1, 2, 2]


def test_point_names_are_built_from_the_values_sorted_by_key(write_sweep):
    sweep = load_sweep(write_sweep(GERKEN_LIKE))
    names = [p.name for p in sweep.points()]
    assert len(set(names)) == len(names)
    cnn = next(p for p in sweep.points() if p.group == "cnn" and p.params["data.augment"] == "online")
    assert cnn.name == (
        f"augment=online__train_size=100__network={cnn.params['model.init_args.network']}"
        f"__seed={cnn.params['seed_everything']}"
    )
    # Reordering the axes in the file keeps every name (and so every folder).
    reordered = dict(GERKEN_LIKE, groups=dict(GERKEN_LIKE["groups"]))
    cnn_axes = GERKEN_LIKE["groups"]["cnn"]["axes"]
    reordered["groups"]["cnn"] = dict(GERKEN_LIKE["groups"]["cnn"], axes=dict(reversed(cnn_axes.items())))
    again = load_sweep(write_sweep(reordered, "reordered.yaml"))
    assert sorted(p.name for p in again.points()) == sorted(names)


def test_unsafe_values_get_safe_distinct_folder_names(write_sweep):
    sweep = load_sweep(
        write_sweep(
            {
                "name": "odd",
                "groups": {
                    "g": {
                        "base": "b.yaml",
                        "axes": {"data.root": ["a/b", "a_b", "a b", "", None], "optimizer.lr": [0.001, 1e-5]},
                    }
                },
            }
        )
    )
    names = [p.name for p in sweep.points()]
    assert len(set(names)) == len(names) == 10
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._+=-]+", name), name
    assert "root=a_b__lr=0.001" in names  # sorted by the full key; safe values stay readable, unhashed
    assert any(re.fullmatch(r"root=a-b-[0-9a-f]{6}__lr=0\.001", name) for name in names)  # "a/b": safe + hash


def one_group(**group) -> dict:
    """A sweep file with one group ``g`` on ``b.yaml``."""
    return {"name": "x", "groups": {"g": {"base": "b.yaml", **group}}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({**one_group(), "output_dir": "o"}, r"output_dir: unknown key \(did you mean 'output'\?\)"),
        ({"groups": {"g": {"base": "b.yaml"}}}, r"name: is required"),
        ({"name": "x", "groups": {}}, r"groups: must be a non-empty mapping"),
        ({"name": "x", "groups": {"g": {"axes": {"data.augment": [1]}}}}, r"groups\.g\.base: is required"),
        (one_group(axis={}), r"groups\.g\.axis: unknown key \(did you mean 'axes'\?\)"),
        (one_group(axes={"data.augment": 4}), r"groups\.g\.axes\.data\.augment: must be a non-empty list"),
        (one_group(axes={"data.augment": [1, 2, 1]}), r"data\.augment: lists the value\(s\) 1 more than once"),
        (one_group(axes={"data.augment": [4, "4"]}), r"data\.augment: lists the value\(s\) 4 more than once"),
        (
            one_group(fixed={"data.augment": 1}, axes={"data.augment": [2]}),
            r"groups\.g\.fixed\.data\.augment: is both fixed and swept",
        ),
        (one_group(fixed={"trainer.default_root_dir": "o"}), r"trainer\.default_root_dir: is set by the sweep"),
        (one_group(fixed={"data augment": 1}), r"groups\.g\.fixed\.data augment: is not a dotted option key"),
        ({"name": "x", "groups": {"bad/name": {"base": "b.yaml"}}}, r"groups\.bad/name: must be a name"),
        (
            {"name": "x", "groups": {g: {"base": "b.yaml", "axes": {"data.augment": [1]}} for g in ("a", "b")}},
            r"groups 'a' and 'b' both define the run",
        ),
    ],
)
def test_bad_sweep_files_fail_naming_the_file_and_the_key(write_sweep, content, message):
    path = write_sweep(content)
    with pytest.raises(SweepConfigError, match=message) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_missing_and_malformed_files_fail_clearly(tmp_path):
    with pytest.raises(SweepConfigError, match="no such sweep file"):
        load_sweep(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SweepConfigError, match="not a readable YAML file"):
        load_sweep(tmp_path / "bad.yaml")


def test_group_entries_override_top_level_ones(write_sweep):
    sweep = load_sweep(
        write_sweep(
            {
                "name": "x",
                "fixed": {"data.augment": 1, "data.source": "digits"},
                "axes": {"seed_everything": [0, 1], "data.train_size": [10, 20]},
                "groups": {"g": {"base": "b.yaml", "fixed": {"seed_everything": 7}, "axes": {"data.augment": [2, 3]}}},
            }
        )
    )
    (group,) = sweep.groups
    assert group.fixed == {"data.source": "digits", "seed_everything": 7}
    assert group.axes == {"data.train_size": [10, 20], "data.augment": [2, 3]}
    assert len(sweep.points()) == 4


def test_select_points_by_group_and_value(write_sweep):
    points = load_sweep(write_sweep(GERKEN_LIKE)).points()
    cnn_online = select_points(points, ["cnn"], {"data.augment": "online", "seed_everything": "1"})
    assert [p.params["model.init_args.network"] for p in cnn_online] == ["cnn_seg_218k", "cnn_seg_1m"]
    # the wandb agent spells values as Python prints them: True, None, 4
    assert {p.group for p in select_points(points, [], {"data.rotate_train": "True"})} == {"cnn"}
    assert {p.group for p in select_points(points, [], {"data.rotate_train": "false"})} == {"s2cnn"}
    with pytest.raises(SweepError, match="no group 'nope'"):
        select_points(points, ["nope"])
    with pytest.raises(SweepError, match="no point sets 'data.agment'"):
        select_points(points, [], {"data.agment": "4"})
    with pytest.raises(SweepError, match="no point matches --data.augment=3"):
        select_points(points, [], {"data.augment": "3"})


def test_dry_run_lists_every_point_with_its_command(write_sweep, capsys, fake_fit):
    path = write_sweep(GERKEN_LIKE)
    assert sweep_main(["--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    points = load_sweep(path).points()
    assert f"{len(points)} points in 2 group(s)" in out
    assert f"0 done, {len(points)} to run" in out
    for point in points:
        assert f"pending {point.label}\n" in out
        assert f"--trainer.default_root_dir {point.dir}" in out
    assert "--data.rotate_train true" in out and "--config configs/cnn.yaml --config configs/extra.yaml" in out
    assert not Path("out").exists(), "a dry run writes nothing"


def test_dry_run_with_a_bad_file_exits_2_with_the_message(write_sweep, capsys):
    path = write_sweep({"name": "x", "groups": {"g": {"base": "b.yaml", "axes": {"data.augment": 4}}}})
    assert sweep_main(["--config", str(path), "--dry-run"]) == 2
    assert "groups.g.axes.data.augment: must be a non-empty list" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "num_points", "groups"),
    [("augmentation", None, {"s2cnn", "cnn"}), ("classification", None, {"s2cnn", "cnn"}), ("quick", 12, None)],
)
def test_shipped_sweep_files_load_and_expand(name, num_points, groups, monkeypatch):
    monkeypatch.chdir(REPO)
    sweep = load_sweep(REPO / "configs" / "sweeps" / f"{name}.yaml")
    points = sweep.points()
    if num_points is not None:
        assert len(points) == num_points
    if groups is not None:
        assert {p.group for p in points} == groups
    seeds = {p.overrides["seed_everything"] for p in points}
    assert len(seeds) >= (2 if name == "quick" else 3)
    assert all(p.overrides["data.rotate_test"] == "both" for p in points)
    # the equivariant model trains on unrotated data, the planar CNNs on rotated data
    for point in points:
        assert point.overrides["data.rotate_train"] is (not point.group.startswith("s2cnn"))


@pytest.mark.parametrize(
    ("name", "num_points", "budgets"),
    [
        ("mnist_t10k_classification", 84, {"s2cnn": 16, "cnn": 16}),
        ("mnist_t10k_segmentation", 63, {"s2cnn": 8, "cnn": 16}),
    ],
)
def test_real_mnist_study_points_share_one_training_budget_per_N(name, num_points, budgets, monkeypatch):
    """The study's design: at every N each CNN point sees budget × N training samples (A × epochs × the fraction of
    batches it trains on), so A changes only how many distinct rotations the same steps draw from; the S2CNN's budget
    is its own (segmentation: half the CNNs', as the sweep file's header explains)."""
    monkeypatch.chdir(REPO)
    points = load_sweep(REPO / "configs" / "sweeps" / f"{name}.yaml").points()
    assert len(points) == num_points
    assert {p.group for p in points} == {"s2cnn", "cnn_online"} | {f"cnn_A{a}" for a in (1, 2, 4, 8, 16)}
    assert {p.overrides["seed_everything"] for p in points} == {0, 1, 2}
    for point in points:
        o = point.overrides
        copies = 1 if o["data.augment"] == "online" else o["data.augment"]
        seen = copies * o["trainer.max_epochs"] * o.get("trainer.limit_train_batches", 1.0)
        assert seen == budgets["s2cnn" if point.group == "s2cnn" else "cnn"], (point.label, seen)
        assert o["data.rotate_test"] == "both" and o["data.split_test_set"] is True
        assert o["data.rotate_train"] is (point.group != "s2cnn")
