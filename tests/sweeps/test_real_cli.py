"""End to end: a tiny sweep through the real ``python -m sphere_study fit``, resumed, then plotted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from sphere_study.plots import plot_main
from sphere_study.results import load_results
from sphere_study.sweep import load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[2]
HAS_CLI = importlib.util.find_spec("sphere_study.cli") is not None and (REPO / "sphere_study" / "__main__.py").exists()
QUICK_CONFIG = REPO / "configs" / "quick.yaml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAS_CLI, reason="sphere_study.cli (issue 5: sphere-study fit) does not exist yet"),
    pytest.mark.skipif(not QUICK_CONFIG.exists(), reason="configs/quick.yaml (issue 5) does not exist yet"),
]

# Tiny: one epoch of two batches on 40 images, so that each point is a few seconds of training.
TINY = {
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.limit_val_batches": 1,
    "trainer.limit_test_batches": 1,
    "data.train_size": 40,
    "data.rotate_test": "both",
}


def test_a_tiny_real_sweep_completes_resumes_and_plots(tmp_path, read_wandb_run):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "output": str(tmp_path / "runs"),
                "fixed": TINY,
                "axes": {"seed_everything": [0]},
                "groups": {
                    "s2cnn": {"base": str(QUICK_CONFIG), "fixed": {"data.rotate_train": False}},  # quick's S2CNN
                    "cnn": {
                        "base": str(QUICK_CONFIG),
                        "fixed": {"model.init_args.network": "cnn_cls_114k", "data.rotate_train": True},
                        "axes": {"data.augment": [1, 2]},
                    },
                },
            }
        )
    )
    sweep = load_sweep(path)
    report = run_sweep(sweep, workers=2, retries=0, progress=False)  # default fit command: python -m sphere_study fit
    logs = {o.point.label: (o.point.dir / "fit.log").read_text()[-3000:] for o in report.outcomes}
    assert [o.status for o in report.outcomes] == ["completed"] * 3, logs
    for point in sweep.points():
        record = load_results(point.dir)
        assert record["model"]["family"] == point.group
        assert record["model"]["name"] == point.overrides.get("model.init_args.network", "S2CNNClassifier")
        assert record["seed"] == 0 and record["data"]["train_size"] == 40
        (wandb_run,) = (point.dir / "wandb").glob("offline-run-*")  # the fit's wandb run, in the point folder
        stored = read_wandb_run(wandb_run)  # grouped by its sweep group, with the keys to group by in wandb's UI
        assert stored["group"] == stored["config"]["group"] == f"tiny/{point.group}"
        assert (stored["config"]["family"], stored["config"]["N"], stored["config"]["seed"]) == (point.group, 40, 0)
        assert stored["config"]["A"] == point.overrides.get("data.augment", 1)
        compute = record["compute"]
        assert compute["train_flops"] == compute["flops_per_batch"] * compute["train_batches"] > 0
        assert stored["summary"]["compute/train_flops"] == compute["train_flops"]

    assert [o.status for o in run_sweep(sweep, progress=False).outcomes] == ["skipped"] * 3
    out = tmp_path / "plots"
    assert plot_main([str(sweep.output), "--out", str(out), "--no-wandb"]) == 0
    assert (out / "aggregate.csv").exists() and len(list(out.glob("*.png"))) == 6  # 2 of them against compute
