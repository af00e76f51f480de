"""Plots: synthetic results.json files -> CSV with the right mean/std, the figures (against images and against
compute), wandb (offline)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sphere_study._io import atomic_write_json
from sphere_study.plots import (
    PlotError,
    aggregate_over_seeds,
    collect_results,
    compute_series,
    data_efficiency_series,
    fetch_wandb_runs,
    has_compute,
    metric_columns,
    plot_data_efficiency,
    plot_main,
    plot_metric_vs_compute,
    plot_rotation_gap,
    plot_saturation,
    record_from_wandb_run,
    results_row,
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


# --- against training compute ---------------------------------------------------------------------------------------

#: FLOPs per training image (forward + backward) of each model of MODELS, and seconds per image: the known truth
#: the synthetic compute blocks are made from (1 epoch: train_flops = cost x N x A).
FLOPS_PER_IMAGE = {"s2cnn_cls_cohen": 3e7, "cnn_cls_114k": 2e6, "cnn_cls_2p5m": 4e7}
SECONDS_PER_IMAGE = {"s2cnn_cls_cohen": 0.05, "cnn_cls_114k": 0.002, "cnn_cls_2p5m": 0.01}


def with_compute(record: dict, rng) -> dict:
    """The record as schema version 2, with a compute block made from the known costs (wall time varies by seed)."""
    name, samples = record["model"]["name"], record["data"]["num_train_samples"]
    batches = math.ceil(samples / 16)
    return {
        **record,
        "schema_version": 2,
        "compute": {
            "fit_wall_time_s": SECONDS_PER_IMAGE[name] * samples * rng.uniform(0.8, 1.2),
            "optimizer_steps": batches, "train_batches": batches, "device": "cpu (2 threads)", "num_devices": 1,
            "batch_shape": [16, 1, 16, 16], "forward_flops_per_batch": int(FLOPS_PER_IMAGE[name] * 16 / 3),
            "flops_per_batch": int(FLOPS_PER_IMAGE[name] * 16), "train_flops": FLOPS_PER_IMAGE[name] * samples,
            "flops_counted_by": "synthetic", "flops_omit": "synthetic",
        },
    }  # fmt: skip


@pytest.fixture
def compute_dir(results_dir) -> tuple[Path, list[dict]]:
    """The synthetic sweep with compute blocks in every results.json, plus one old model (schema 1, no compute)."""
    root, records = results_dir
    rng = np.random.default_rng(2)
    new = []
    for path in sorted(root.rglob("results.json")):
        if "wandb" in path.parts or path.parent.name in ("crashed", "broken"):
            continue
        record = with_compute(json.loads(path.read_text()), rng)
        atomic_write_json(path, record)
        new.append(record)
    for seed in SEEDS:  # an old run: no compute block
        old = synthetic_record("cnn_cls_old", "cnn", 50_000, True, 100, 1, seed, rng)
        atomic_write_json(root / "old" / f"s{seed}" / "results.json", old)
    return root, new


def expected_compute(records: list[dict], column: str) -> dict[tuple, tuple[float, float]]:
    """(model, N, A) -> (mean, std with ddof=1) of a compute column, from the raw records."""
    values: dict[tuple, list[float]] = {}
    for r in records:
        key = (r["model"]["name"], r["data"]["train_size"], str(r["data"]["augment"]))
        values.setdefault(key, []).append(r["compute"][column])
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1))) for k, v in values.items()}


def test_rows_and_aggregate_carry_the_compute_columns(compute_dir):
    root, records = compute_dir
    rows, _ = collect_results(root)
    old = [r for r in rows if r["model"] == "cnn_cls_old"]
    assert len(old) == 3 and not any(has_compute(r) for r in old)
    assert all(r["train_flops"] is None and r["device"] is None for r in old)
    row = next(r for r in rows if r["run"] == "cnn_cls_114k/n400_a4_s2")
    assert row["train_flops"] == 2e6 * 1600 and row["device"] == "cpu (2 threads)" and has_compute(row)
    assert "train_flops" not in metric_columns(rows) and "test/rotated/acc" in metric_columns(rows)

    aggregate = aggregate_over_seeds(rows)
    flops, wall = expected_compute(records, "train_flops"), expected_compute(records, "fit_wall_time_s")
    for condition in aggregate:
        key = (condition["model"], condition["train_size"], str(condition["augment"]))
        if condition["model"] == "cnn_cls_old":
            assert math.isnan(condition["train_flops_mean"]) and condition["devices"] == ""
            continue
        assert condition["train_flops_mean"] == pytest.approx(flops[key][0], rel=1e-12)
        assert condition["train_flops_std"] == pytest.approx(0.0, abs=1e-6)  # the same FLOPs for every seed
        assert condition["fit_wall_time_s_mean"] == pytest.approx(wall[key][0], rel=1e-12)
        assert condition["fit_wall_time_s_std"] == pytest.approx(wall[key][1], rel=1e-12)
        assert condition["devices"] == "cpu (2 threads)" and condition["n"] == 3


@pytest.mark.parametrize("column", ["train_flops", "fit_wall_time_s"])
def test_metric_vs_compute_draws_each_models_curve_at_its_compute(compute_dir, column):
    root, records = compute_dir
    aggregate = aggregate_over_seeds(collect_results(root)[0])
    metric = "test/rotated/acc"
    accuracy, cost = expected_statistics(records, metric), expected_compute(records, column)

    series = compute_series(aggregate, metric, column)
    assert ("cnn_cls_old", 50_000, True) not in series  # no compute: left out
    cnn = series[("cnn_cls_114k", 114_137, True)]
    conditions = [(100, 1), (400, 1), (400, 2), (400, 4)]  # the data-efficiency curve; online has no N x A
    assert sorted((r["train_size"], r["augment"]) for r in cnn) == conditions

    fig = plot_metric_vs_compute(aggregate, metric, column)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}
    assert len(lines) == 3 and not any(label.startswith("cnn_cls_old") for label in lines)
    for model, conditions in (
        ("cnn_cls_114k", [(100, 1), (400, 1), (400, 2), (400, 4)]),
        ("s2cnn_cls_cohen", [(100, 1), (400, 1)]),
    ):
        line = next(v for k, v in lines.items() if k.startswith(model))
        points = sorted((cost[(model, n, str(a))][0], accuracy[(model, n, str(a))][0]) for n, a in conditions)
        np.testing.assert_allclose(line.get_xdata(), [x for x, _ in points], rtol=1e-12)
        np.testing.assert_allclose(line.get_ydata(), [y for _, y in points], rtol=1e-12)
    # the seed bands: one filled band per line (std of the metric over 3 seeds); wall time also has x error bars
    assert len(ax.collections) >= 3
    has_xerr = any(type(c).__name__ == "LineCollection" for c in ax.collections)
    assert has_xerr == (column == "fit_wall_time_s")


def test_plot_skips_runs_without_compute_with_a_message(compute_dir, tmp_path, capsys):
    root, records = compute_dir
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out), "--no-wandb"]) == 0
    err = capsys.readouterr().err
    assert (
        f"3 of {len(records) + 3} runs record no training compute" in err
        and "left out of the figures against compute" in err
    )
    for figure in ("metric_vs_flops", "metric_vs_wall_time"):
        png = out / f"{figure}__classification_digits_b8.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aggregate = read_csv(out / "aggregate.csv")
    assert {"train_flops_mean", "train_flops_std", "fit_wall_time_s_mean", "devices"} <= set(aggregate[0])
    old = [r for r in aggregate if r["model"] == "cnn_cls_old"]
    assert old and all(r["train_flops_mean"] == "nan" for r in old)
    runs = read_csv(out / "runs.csv")
    assert {"train_flops", "fit_wall_time_s", "optimizer_steps", "device"} <= set(runs[0])


def test_old_results_only_get_no_compute_figures_and_no_crash(results_dir, tmp_path, capsys):
    """Every file of schema version 1 (as the committed docs/results): the other figures, and a message."""
    root, records = results_dir
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out), "--no-wandb"]) == 0
    err = capsys.readouterr().err
    assert f"{len(records)} of {len(records)} runs record no training compute" in err
    assert "no figure metric_vs_flops__classification_digits_b8: metric vs training FLOPs: no run records" in err
    assert not list(out.glob("metric_vs_*.png")) and (out / "data_efficiency__classification_digits_b8.png").exists()
    with pytest.raises(PlotError, match="schema version 1 were written before the compute block"):
        plot_metric_vs_compute(aggregate_over_seeds(collect_results(root)[0]), "test/rotated/acc")


def test_committed_results_still_plot(tmp_path, capsys):
    """docs/results (schema version 1) keep loading and plotting."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "results"
    assert plot_main([str(docs), "--out", str(tmp_path / "plots"), "--no-wandb"]) == 0
    assert "record no training compute" in capsys.readouterr().err
    assert list((tmp_path / "plots").glob("data_efficiency__*.png"))


def test_the_wandb_summary_run_has_the_compute_curves(compute_dir, tmp_path, capsys):
    root, _ = compute_dir
    out = tmp_path / "plots"
    assert plot_main([str(root), "--out", str(out)]) == 0
    (run_folder,) = (out / "wandb").glob("offline-run-*")
    media = run_folder / "files" / "media"
    assert len(list((media / "images").rglob("*.png"))) == 6  # the four figures and the two against compute
    tables = [str(p.relative_to(media)) for p in (media / "table").rglob("*.table.json")]
    for figure in ("metric_vs_flops", "metric_vs_wall_time"):
        (chart,) = [p for p in tables if f"{figure}__classification_digits_b8" in p]
        data = json.loads((media / chart).read_text())
        assert (
            data["columns"][1] == {"metric_vs_flops": "train_flops", "metric_vs_wall_time": "fit_wall_time_s"}[figure]
        )
        assert len(data["data"]) == 2 + 4 + 4  # the points of the three lines
    (runs_table,) = [p for p in tables if "runs" in p]
    assert "train_flops" in json.loads((media / runs_table).read_text())["columns"]


def test_wandb_runs_carry_their_compute_from_the_summary():
    config = {"network": "cnn_cls_114k", "task": "classification", "source": "digits", "train_size": 100,
              "augment": 2, "seed": 1}  # fmt: skip
    summary = {"test/rotated/acc": 0.5, "compute/train_flops": 4e8, "compute/fit_wall_time_s": 3.5,
               "compute/device": "cuda (NVIDIA H200)"}  # fmt: skip
    row = results_row(record_from_wandb_run(config, summary), run="wandb:x")
    assert (row["train_flops"], row["fit_wall_time_s"], row["device"]) == (4e8, 3.5, "cuda (NVIDIA H200)")
    assert row["optimizer_steps"] is None and has_compute(row)
    assert not has_compute(results_row(record_from_wandb_run(config, {"test/rotated/acc": 0.5}), run="wandb:y"))
