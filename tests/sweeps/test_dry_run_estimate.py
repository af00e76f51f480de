"""``sweep --dry-run`` prints an estimate per point and in total, from each point's resolved config, with one
calibration per model/batch shape (faked here: tests/cost/test_tiny_run.py runs the real one), cached; warns beyond
a day; ``--no-estimate`` skips it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

import sphere_study.cost._calibrate as calibrate_module
from sphere_study.sweep import sweep_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from tiny import tiny_config  # noqa: E402


class FakeCalibrations:
    def __init__(self, train_s: float, eval_s: float):
        self.train_s, self.eval_s, self.calls = train_s, eval_s, []

    def __call__(self, jobs, **kwargs):
        self.calls.append(sorted(job["label"] for job in jobs))
        timing = {"train_batch_s": self.train_s, "eval_batch_s": self.eval_s, "train_windows": [], "eval_windows": []}
        return {job["digest"]: {"timing": timing} for job in jobs}


@pytest.fixture
def sweep_file(tmp_path):
    """3 points on the tiny config (48 digits in batches of 16, 2 epochs): the tiny S2CNN, and the planar CNN with
    augment 1 and 2."""
    base = tiny_config(tmp_path / "base", max_epochs=2)
    path = tmp_path / "sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "output": str(tmp_path / "out"),
                "groups": {
                    "s2cnn": {"base": str(base)},
                    "cnn": {
                        "base": str(base),
                        "fixed": {"model.init_args.network": "cnn_cls_114k", "data.rotate_train": True},
                        "axes": {"data.augment": [1, 2]},
                    },
                },
            },
            sort_keys=False,
        )
    )
    return path


def fake(monkeypatch, train_s=0.5, eval_s=0.2) -> FakeCalibrations:
    calibrations = FakeCalibrations(train_s, eval_s)
    monkeypatch.setattr(calibrate_module, "run_calibrations", calibrations)
    return calibrations


def test_dry_run_prints_each_points_estimate_and_the_total(sweep_file, monkeypatch, capsys):
    calibrations = fake(monkeypatch)
    assert sweep_main(["--config", str(sweep_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 48 samples / 16 = 3 steps per epoch (augment 2: 6), 2 epochs; eval: 1 validation batch per epoch, 1 sanity
    # batch, 1 test batch on each of the two test sets (rotate_test: both) = 5
    lines = out.splitlines()
    estimates = [line.strip() for line in lines if line.strip().startswith("est")]
    assert estimates == [
        "est 4.0 s (6 steps × 0.50 s + 5 eval batches × 0.20 s)",
        "est 4.0 s (6 steps × 0.50 s + 5 eval batches × 0.20 s)",
        "est 7.0 s (12 steps × 0.50 s + 5 eval batches × 0.20 s)",
    ]
    first_point, its_estimate = lines.index("[1] pending s2cnn/"), lines.index("    " + estimates[0])
    assert first_point < its_estimate < lines.index("[2] pending cnn/augment=1"), "under each point its estimate"
    (total,) = [line for line in lines if line.startswith("total:")]
    assert total.startswith("total: est 15 s for 3 point(s) to run on CPU (")
    assert "WARNING" not in out
    assert calibrations.calls == [
        ["S2CNNClassifier* b=6 batch 16 (classification)", "cnn_cls_114k b=6 batch 16 (classification)"]
    ], "one calibration per model and batch shape"

    assert sweep_main(["--config", str(sweep_file), "--dry-run"]) == 0
    assert len(calibrations.calls) == 1, "the second dry run calibrates nothing"
    again = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("est")]
    assert again == estimates
    assert not (sweep_file.parent / "out").exists(), "a dry run writes nothing into the sweep's output"


def test_dry_run_warns_when_the_sweep_takes_more_than_a_day(sweep_file, monkeypatch, capsys):
    fake(monkeypatch, train_s=4000.0)  # 24 steps in all: 96,000 s, more than a day on one worker
    assert sweep_main(["--config", str(sweep_file), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (total,) = [line for line in lines if line.startswith("total:")]
    assert total.startswith("total: est 1 d 3 h for 3 point(s) to run on CPU (")
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert warning.startswith("WARNING: this sweep needs more than a day: about 1 d 3 h of wall time on CPU (")

    # with 2 workers the points end after 20 h of wall time: no warning, the wall time in the total
    assert sweep_main(["--config", str(sweep_file), "--dry-run", "--workers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (total,) = [line for line in lines if line.startswith("total:")]
    assert total.endswith("; about 20 h of wall time with 2 workers")
    assert not [line for line in lines if line.startswith("WARNING")]


def test_no_estimate_skips_the_calibration(sweep_file, monkeypatch, capsys):
    calibrations = fake(monkeypatch)
    assert sweep_main(["--config", str(sweep_file), "--dry-run", "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert calibrations.calls == [] and "est " not in out and "total:" not in out
    assert "[3] pending cnn/augment=2" in out


def test_a_custom_fit_command_gets_no_estimate(sweep_file, monkeypatch, capsys, fake_fit):
    calibrations = fake(monkeypatch)
    assert sweep_main(["--config", str(sweep_file), "--dry-run"]) == 0
    assert "no estimate: the points run $SPHERE_STUDY_FIT_COMMAND" in capsys.readouterr().out
    assert calibrations.calls == []
