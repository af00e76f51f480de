"""Plots: synthetic results.json files -> CSV with the right mean/std, the three figures, wandb (offline)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from sphere_study._io import atomic_write_json
from sphere_study.plots import (
    aggregate_over_seeds,
    collect_results,
    data_efficiency_series,
    fetch_wandb_runs,
    plot_data_efficiency,
    plot_main,
    plot_rotation_gap,
    plot_saturation,
    record_from_wandb_run,
)

SEEDS = (0, 1, 2)
# (model, family, parameters, rotate_train, train sizes, augments)
MODELS = (
    ("s2cnn_cls_cohen", "s2cnn", 154_550, False, (100, 400), (1,)),
    ("cnn_cls_114k", "cnn", 114_137, True, (100, 400), (1, 2, 4, "online")),
    ("cnn_cls_2p5m", "cnn", 2_498_268, True, (100, 400), (1, 2, 4, "online")),
)


def synthetic_record(model, family, params, rotate_train, n, a, seed, rng, task="classification") -> dict:
    metric = {"classification": "acc", "segmentation": "miou_fg"}[task]
    rotated, unrotated = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)
    return {
        "schema_version": 1,
        "status": "completed",
        "task": task,
        "model": {"name": model, "family": family, "num_parameters": params},
        "data": {
            "source": "digits", "train_size": n, "augment": a, "rotate_train": rotate_train, "rotate_test": "both",
            "digits_per_sphere": 1, "bandwidth": 8, "num_train_samples": n if a == "online" else n * a,
        },
        "seed": seed,
        "metrics": {f"test/rotated/{metric}": rotated, f"test/unrotated/{metric}": unrotated, "val/loss": 1.0},
        "epochs": 1,
        "wall_time_s": 1.0,
        "config": {},
    }  # fmt: skip


@pytest.fixture
def results_dir(tmp_path) -> tuple[Path, list[dict]]:
    """A sweep-like folder of synthetic results (3 models x N x A x 3 seeds) plus files that must be ignored."""
    rng = np.random.default_rng(0)
    root = tmp_path / "sweep"
    records = []
    for model, family, params, rotate_train, sizes, augments in MODELS:
        for n in sizes:
            for a in augments:
                for seed in SEEDS:
                    record = synthetic_record(model, family, params, rotate_train, n, a, seed, rng)
                    atomic_write_json(root / model / f"n{n}_a{a}_s{seed}" / "results.json", record)
                    records.append(record)
    # ignored: an unfinished run, a broken file, a copy inside a wandb run folder
    atomic_write_json(root / "crashed" / "results.json", {**records[0], "status": "running"})
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{not json")
    atomic_write_json(root / "cnn_cls_114k" / "n100_a1_s0" / "wandb" / "run-x" / "files" / "results.json", records[3])
    return root, records


def expected_statistics(records: list[dict], metric: str) -> dict[tuple, tuple[float, float, int]]:
    """(model, N, A) -> (mean, std with ddof=1, n), computed here from the raw records."""
    values: dict[tuple, list[float]] = {}
    for r in records:
        key = (r["model"]["name"], r["data"]["train_size"], str(r["data"]["augment"]))
        m = r["metrics"]
        value = m[metric] if metric in m else m["test/unrotated/acc"] - m["test/rotated/acc"]
        values.setdefault(key, []).append(value)
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1)), len(v)) for k, v in values.items()}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_collect_reads_valid_results_only(results_dir):
    root, records = results_dir
    rows, problems = collect_results(root)
    assert len(rows) == len(records) == 1 * 2 * 1 * 3 + 2 * 2 * 4 * 3
    assert sorted(Path(p.split(":")[0]).parent.name for p in problems) == ["broken", "crashed"]
    assert all("wandb" not in row["run"] for row in rows)
    row = next(r for r in rows if r["run"] == "cnn_cls_114k/n400_a4_s2")
    assert (row["train_size"], row["augment"], row["num_train_samples"], row["seed"]) == (400, 4, 1600, 2)
    assert row["test/gap/acc"] == pytest.approx(row["test/unrotated/acc"] - row["test/rotated/acc"])


def test_plot_writes_csvs_whose_numbers_are_the_seed_mean_and_std(results_dir, tmp_path, capsys):
    root, records = results_dir
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out), "--no-wandb"]) == 0
    assert "skipped" in capsys.readouterr().err  # the broken and the unfinished file are reported

    runs = read_csv(out / "runs.csv")
    assert len(runs) == len(records)
    for column in (
        "model",
        "family",
        "num_parameters",
        "task",
        "source",
        "train_size",
        "augment",
        "num_train_samples",
        "rotate_train",
        "seed",
        "test/rotated/acc",
        "test/unrotated/acc",
    ):
        assert column in runs[0], column  # fmt: skip

    aggregate = read_csv(out / "aggregate.csv")
    for metric in ("test/rotated/acc", "test/unrotated/acc", "test/gap/acc"):
        expected = expected_statistics(records, metric)
        assert len(aggregate) == len(expected)
        for row in aggregate:
            mean, std, n = expected[(row["model"], int(row["train_size"]), row["augment"])]
            assert float(row[f"{metric}_mean"]) == pytest.approx(mean, rel=1e-12, abs=1e-15)
            assert float(row[f"{metric}_std"]) == pytest.approx(std, rel=1e-12, abs=1e-15)
            assert int(row["n"]) == n == 3 and row["seeds"] == "0;1;2"

    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        f"{figure}__classification_digits_b8.png"
        for figure in ("data_efficiency", "data_efficiency_by_augment", "rotation_gap", "saturation")
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_a_single_seed_has_nan_std(tmp_path):
    rows = [{"model": "m", "train_size": 1, "augment": 1, "seed": 0, "test/rotated/acc": 0.5}]
    (row,) = aggregate_over_seeds(rows)
    assert row["n"] == 1 and row["test/rotated/acc_mean"] == 0.5 and math.isnan(row["test/rotated/acc_std"])


def test_figures_draw_the_expected_series(results_dir):
    root, records = results_dir
    rows, _ = collect_results(root)
    aggregate = aggregate_over_seeds(rows)
    metric = "test/rotated/acc"
    expected = expected_statistics(records, metric)

    # data efficiency: A = 1 over N, then the largest N with A > 1; online left out
    series = data_efficiency_series(aggregate, metric)
    cnn = series[("cnn_cls_114k", 114_137, True)]
    assert [(r["train_size"], r["augment"]) for r in cnn] == [(100, 1), (400, 1), (400, 2), (400, 4)]
    s2cnn = series[("s2cnn_cls_cohen", 154_550, False)]
    assert [(r["train_size"], r["augment"]) for r in s2cnn] == [(100, 1), (400, 1)]
    fig = plot_data_efficiency(aggregate, metric)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and len(ax.lines) == 3
    cnn_line = next(line for line in ax.lines if line.get_label().startswith("cnn_cls_114k"))
    assert list(cnn_line.get_xdata()) == [100, 400, 800, 1600]
    expected_y = [expected[("cnn_cls_114k", n, str(a))][0] for n, a in ((100, 1), (400, 1), (400, 2), (400, 4))]
    np.testing.assert_allclose(cnn_line.get_ydata(), expected_y)

    # saturation: one panel per N; CNN lines over A; the S2CNN's A = 1 mean as a dashed horizontal line
    fig = plot_saturation(aggregate, metric)
    assert [ax.get_title() for ax in fig.axes] == ["N = 100", "N = 400"]
    for ax, n in zip(fig.axes, (100, 400), strict=True):
        solid = [line for line in ax.lines if line.get_linestyle() == "-"]
        assert len(solid) == 2 and all(len(line.get_xdata()) == 4 for line in solid)
        (reference,) = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert reference.get_ydata()[0] == pytest.approx(expected[("s2cnn_cls_cohen", n, "1")][0])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "online"]

    # rotation gap: one bar per model, at its largest N x A
    fig = plot_rotation_gap(aggregate, "acc")
    gaps = expected_statistics(records, "test/gap/acc")
    heights = [patch.get_height() for patch in fig.axes[0].patches]
    want = [
        gaps[("s2cnn_cls_cohen", 400, "1")][0],
        gaps[("cnn_cls_114k", 400, "4")][0],
        gaps[("cnn_cls_2p5m", 400, "4")][0],
    ]
    np.testing.assert_allclose(heights, want)


def test_each_setting_gets_its_own_figures(results_dir, tmp_path):
    root, _ = results_dir
    rng = np.random.default_rng(1)
    for seed in SEEDS:
        for a in (1, 2):
            record = synthetic_record("cnn_seg_218k", "cnn", 218_144, True, 50, a, seed, rng, task="segmentation")
            atomic_write_json(root / "seg" / f"a{a}_s{seed}" / "results.json", record)
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out), "--no-wandb"]) == 0
    assert (out / "saturation__segmentation_digits_1digit_b8.png").exists()
    assert (out / "saturation__classification_digits_b8.png").exists()


def test_plot_errors_are_clear(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert plot_main([str(tmp_path / "empty"), "--no-wandb"]) == 1
    assert "no completed runs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        plot_main([])
    assert "give either RUN_DIR or --wandb-project" in capsys.readouterr().err


def test_unknown_metric_is_rejected_naming_the_available_ones(results_dir, capsys):
    root, _ = results_dir
    with pytest.raises(SystemExit):
        plot_main([str(root), "--metric", "miou", "--no-wandb"])
    assert "--metric 'miou' is in no run; test metrics available: acc" in capsys.readouterr().err


def test_plot_logs_figures_and_tables_to_an_offline_wandb_run(results_dir, tmp_path, capsys):
    root, _ = results_dir
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out)]) == 0
    assert "offline; upload it with `wandb sync`" in capsys.readouterr().out
    (run_folder,) = (out / "wandb").glob("offline-run-*")
    assert list(run_folder.glob("*.wandb"))
    media = run_folder / "files" / "media"
    assert len(list((media / "images").rglob("*.png"))) == 4
    tables = [p.name for p in (media / "table").rglob("*.table.json")]
    assert any(name.startswith("tables/runs") or "runs" in name for name in tables), tables
    assert not Path("wandb").exists(), "the wandb run stays inside the output folder"


def test_wandb_project_needs_online_mode(capsys):
    assert plot_main(["--wandb-project", "me/sphere-study", "--no-wandb"]) == 1
    assert "--wandb-project needs the wandb server, but WANDB_MODE is 'offline'" in capsys.readouterr().err


class FakeRun:
    def __init__(self, run_id, config, summary):
        self.path, self.config, self.summary = ["me", "proj", run_id], config, summary


class FakeApi:
    """A stand-in for wandb.Api: the runs of a sweep, as a wandb agent leaves them."""

    def __init__(self, runs):
        self._runs = runs
        self.asked = None

    def runs(self, path, filters=None):
        self.asked = (path, filters)
        return self._runs


def test_wandb_runs_become_the_same_rows_as_results_files():
    nested = {  # a LightningCLI config as logged, with the sweep parameters as flat dotted keys
        "model": {"class_path": "sphere_study.tasks.ClassificationTask", "init_args": {"network": "cnn_cls_114k"}},
        "data": {"source": "mnist", "rotate_train": True},
        "data.train_size": 1000,
        "data.augment": 4,
        "seed_everything": 2,
    }
    flat_hparams = {"network": "s2cnn_cls_cohen", "task": "classification", "source": "mnist", "train_size": 500,
                    "augment": "online", "rotate_train": False, "seed": 0}  # fmt: skip
    summary = {"test/rotated/acc": 0.9, "test/unrotated/acc": 0.95, "trainer/global_step": 10, "media": {"x": 1}}
    api = FakeApi(
        [
            FakeRun("a", nested, summary),
            FakeRun("b", flat_hparams, summary | {"model/num_parameters": 154550}),
            FakeRun("c", {"data.augment": 1}, summary),  # not a sphere-study run
            FakeRun("d", {"sphere_study_summary_of": "x"}, {}),  # a summary run: ignored silently
        ]
    )
    rows, problems = fetch_wandb_runs("me/proj", api=api)
    assert api.asked == ("me/proj", {"state": "finished"})
    assert len(rows) == 2 and len(problems) == 1 and "me/proj/c: missing model network, task" in problems[0]
    a, b = rows
    assert (a["model"], a["family"], a["task"], a["train_size"], a["augment"], a["num_train_samples"], a["seed"]) == (
        "cnn_cls_114k", "cnn", "classification", 1000, 4, 4000, 2
    )  # fmt: skip
    assert a["test/gap/acc"] == pytest.approx(0.05) and "trainer/global_step" not in a
    assert (b["family"], b["augment"], b["num_train_samples"], b["num_parameters"]) == ("s2cnn", "online", 500, 154550)
    assert b["run"] == "wandb:me/proj/b"
    with pytest.raises(ValueError, match="missing test metrics"):
        record_from_wandb_run(nested, {})
